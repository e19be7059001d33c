// UPersonaMCPSubsystem: one Persona-MCP connection per game instance, on the engine's IWebSocket.
#pragma once

#include "CoreMinimal.h"
#include "Subsystems/GameInstanceSubsystem.h"

#include "PersonaMCPCore.h"

#include "PersonaMCPSubsystem.generated.h"

UCLASS(Config = Game)
class PERSONAMCP_API UPersonaMCPSubsystem : public UGameInstanceSubsystem
{
    GENERATED_BODY()

public:
    /** ws://host:port/mcp of the Persona-MCP server. */
    UPROPERTY(Config, EditAnywhere, BlueprintReadWrite, Category = "PersonaMCP")
    FString ServerUrl = TEXT("ws://127.0.0.1:8000/mcp");

    /** API key with the write scope (empty in the server's local-development mode). */
    UPROPERTY(Config, EditAnywhere, BlueprintReadWrite, Category = "PersonaMCP")
    FString ApiKey;

    virtual void Initialize(FSubsystemCollectionBase& Collection) override;
    virtual void Deinitialize() override;

    /** Connect (again) with ServerUrl and ApiKey; the client reconnects by itself after that. */
    UFUNCTION(BlueprintCallable, Category = "PersonaMCP")
    void Connect();

    UFUNCTION(BlueprintCallable, Category = "PersonaMCP")
    void Disconnect();

    UFUNCTION(BlueprintPure, Category = "PersonaMCP")
    bool IsConnected() const;

    /** The engine-free client (null before Connect). Its callbacks run on the game thread for
     *  socket events and on the client's timer thread for timeouts: marshal before touching
     *  UObjects (UPersonaNPCComponent does). */
    personamcp::PersonaClient* GetClient() const { return Client.Get(); }

private:
    TUniquePtr<personamcp::PersonaClient> Client;
};
