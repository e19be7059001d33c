// The component: requests go through the subsystem's client; results are marshalled to the game
// thread and delivered only while the component is still alive (a weak object pointer).
#include "PersonaNPCComponent.h"

#include "Async/Async.h"
#include "PersonaMCPStrings.h"
#include "Engine/GameInstance.h"
#include "Engine/World.h"
#include "PersonaMCPSubsystem.h"

#include <string>

using PersonaMCPStrings::ToFString;
using PersonaMCPStrings::ToStd;

UPersonaMCPSubsystem* UPersonaNPCComponent::GetPersonaSubsystem() const
{
    UWorld* World = GetWorld();
    UGameInstance* GameInstance = World ? World->GetGameInstance() : nullptr;
    return GameInstance ? GameInstance->GetSubsystem<UPersonaMCPSubsystem>() : nullptr;
}

void UPersonaNPCComponent::Say(const FString& Text)
{
    UPersonaMCPSubsystem* Subsystem = GetPersonaSubsystem();
    personamcp::PersonaClient* Client = Subsystem ? Subsystem->GetClient() : nullptr;
    if (!Client)
    {
        OnError.Broadcast(0, TEXT("not connected: call UPersonaMCPSubsystem::Connect"));
        return;
    }
    TWeakObjectPtr<UPersonaNPCComponent> Weak(this);
    personamcp::Json Options = personamcp::Json::object({{"persona_id", ToStd(Persona)}, {"sender", ToStd(PlayerId)}});
    auto Done = [Weak](const personamcp::Outcome& Result)
    {
        const int32 Code = Result.code;
        const FString Error = ToFString(Result.message());
        const personamcp::Json Turn = Result.ok ? Result.result : personamcp::Json();
        AsyncTask(ENamedThreads::GameThread, [Weak, Code, Error, Turn]()
        {
            UPersonaNPCComponent* Self = Weak.Get();
            if (!Self) return;
            Self->CurrentRequest = 0;
            if (!Error.IsEmpty())
            {
                Self->OnError.Broadcast(Code, Error);
                return;
            }
            Self->OnReply.Broadcast(ToFString(Turn["response"].as_string()));
            const personamcp::Json& Expression = Turn["expression"];
            if (Expression.is_object())
                Self->OnExpression.Broadcast(ToFString(Expression["emotion"].as_string()), static_cast<float>(Expression["intensity"].as_double(1.0)));
            else
                Self->OnExpression.Broadcast(ToFString(Turn["emotion"].as_string()), 1.0f);
            for (const personamcp::Json& Action : Turn["actions"].as_array())
                Self->OnAction.Broadcast(ToFString(Action["name"].as_string()), ToFString(Action["arguments"].dump()));
        });
    };
    if (bStream)
    {
        auto OnDelta = [Weak](const std::string& Delta, std::int64_t)
        {
            const FString Text = ToFString(Delta);
            AsyncTask(ENamedThreads::GameThread, [Weak, Text]()
            {
                if (UPersonaNPCComponent* Self = Weak.Get()) Self->OnChunk.Broadcast(Text);
            });
        };
        CurrentRequest = Client->stream(ToStd(Text), Options, OnDelta, Done);
    }
    else
    {
        Options.set("content", ToStd(Text));
        Client->call("conversation.send_message", Options, Done);
    }
}

void UPersonaNPCComponent::StopTalking()
{
    UPersonaMCPSubsystem* Subsystem = GetPersonaSubsystem();
    personamcp::PersonaClient* Client = Subsystem ? Subsystem->GetClient() : nullptr;
    if (Client && CurrentRequest != 0)
        Client->call("conversation.cancel", personamcp::Json::object({{"request_id", CurrentRequest}}), [](const personamcp::Outcome&) {});
}

void UPersonaNPCComponent::WorldEvent(const FString& Type, const FString& Description)
{
    UPersonaMCPSubsystem* Subsystem = GetPersonaSubsystem();
    personamcp::PersonaClient* Client = Subsystem ? Subsystem->GetClient() : nullptr;
    if (!Client) return;
    TWeakObjectPtr<UPersonaNPCComponent> Weak(this);
    personamcp::Json Params = personamcp::Json::object({{"type", ToStd(Type)}, {"description", ToStd(Description)},
                                                        {"persona_id", ToStd(Persona)}, {"actor", ToStd(PlayerId)}});
    Client->call("world.event", Params, [Weak](const personamcp::Outcome& Result)
    {
        if (Result.ok) return;
        const int32 Code = Result.code;
        const FString Error = ToFString(Result.message());
        AsyncTask(ENamedThreads::GameThread, [Weak, Code, Error]()
        {
            if (UPersonaNPCComponent* Self = Weak.Get()) Self->OnError.Broadcast(Code, Error);
        });
    });
}
