// UPersonaNPCComponent: put it on an NPC actor, set the persona, bind the events in Blueprint.
#pragma once

#include "Components/ActorComponent.h"
#include "CoreMinimal.h"

#include "PersonaNPCComponent.generated.h"

DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(FPersonaReplySignature, const FString&, Reply);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_OneParam(FPersonaChunkSignature, const FString&, Delta);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FPersonaExpressionSignature, const FString&, Emotion, float, Intensity);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FPersonaActionSignature, const FString&, Name, const FString&, ArgumentsJson);
DECLARE_DYNAMIC_MULTICAST_DELEGATE_TwoParams(FPersonaErrorSignature, int32, Code, const FString&, Message);

class UPersonaMCPSubsystem;

UCLASS(ClassGroup = (PersonaMCP), meta = (BlueprintSpawnableComponent))
class PERSONAMCP_API UPersonaNPCComponent : public UActorComponent
{
    GENERATED_BODY()

public:
    /** Persona id or slug. */
    UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "PersonaMCP")
    FString Persona = TEXT("alice");

    /** Participant id of the player (memories and relationships are kept per participant). */
    UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "PersonaMCP")
    FString PlayerId = TEXT("player");

    /** Stream replies (OnChunk per delta) or wait for the whole reply. */
    UPROPERTY(EditAnywhere, BlueprintReadWrite, Category = "PersonaMCP")
    bool bStream = true;

    UPROPERTY(BlueprintAssignable, Category = "PersonaMCP")
    FPersonaReplySignature OnReply;

    UPROPERTY(BlueprintAssignable, Category = "PersonaMCP")
    FPersonaChunkSignature OnChunk;

    UPROPERTY(BlueprintAssignable, Category = "PersonaMCP")
    FPersonaExpressionSignature OnExpression;

    UPROPERTY(BlueprintAssignable, Category = "PersonaMCP")
    FPersonaActionSignature OnAction;

    UPROPERTY(BlueprintAssignable, Category = "PersonaMCP")
    FPersonaErrorSignature OnError;

    /** Say something to the persona; the answer arrives through the events (game thread). */
    UFUNCTION(BlueprintCallable, Category = "PersonaMCP")
    void Say(const FString& Text);

    /** Cancel the reply being streamed, if any. */
    UFUNCTION(BlueprintCallable, Category = "PersonaMCP")
    void StopTalking();

    /** Tell the persona about something that happened in the world (v1.1 world.event). */
    UFUNCTION(BlueprintCallable, Category = "PersonaMCP")
    void WorldEvent(const FString& Type, const FString& Description);

private:
    UPersonaMCPSubsystem* GetPersonaSubsystem() const;
    int64 CurrentRequest = 0;
};
