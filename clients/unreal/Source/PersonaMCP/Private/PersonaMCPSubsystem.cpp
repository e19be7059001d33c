// The subsystem and the core's Transport on IWebSocket. Every IWebSocket call happens on the
// game thread (the core may ask from its timer thread); socket delegates capture only a weak
// pointer to the transport's state, so no lambda keeps a socket alive.
#include "PersonaMCPSubsystem.h"

#include "Async/Async.h"
#include "PersonaMCPStrings.h"
#include "IWebSocket.h"
#include "Modules/ModuleManager.h"
#include "WebSocketsModule.h"

#include <memory>
#include <string>

using PersonaMCPStrings::ToFString;
using PersonaMCPStrings::ToStd;

DEFINE_LOG_CATEGORY_STATIC(LogPersonaMCP, Log, All);

namespace
{

struct FSocketState
{
    TSharedPtr<IWebSocket> Socket;
    personamcp::Transport::Handlers Handlers;
};

class FUnrealWebSocketTransport final : public personamcp::Transport
{
public:
    FUnrealWebSocketTransport() : State(std::make_shared<FSocketState>()) {}

    ~FUnrealWebSocketTransport() override
    {
        std::shared_ptr<FSocketState> Owned = State;
        AsyncTask(ENamedThreads::GameThread, [Owned]()
        {
            if (Owned->Socket.IsValid())
            {
                Owned->Socket->OnConnected().Clear();
                Owned->Socket->OnConnectionError().Clear();
                Owned->Socket->OnClosed().Clear();
                Owned->Socket->OnMessage().Clear();
                Owned->Socket->OnBinaryMessage().Clear();
                Owned->Socket->Close();
                Owned->Socket.Reset();
            }
        });
    }

    void connect(const std::string& Url, Handlers InHandlers) override
    {
        std::weak_ptr<FSocketState> Weak = State;
        State->Handlers = std::move(InHandlers);
        const FString Target = ToFString(Url);
        AsyncTask(ENamedThreads::GameThread, [Weak, Target]()
        {
            std::shared_ptr<FSocketState> S = Weak.lock();
            if (!S) return;
            FModuleManager::Get().LoadModuleChecked<FWebSocketsModule>(TEXT("WebSockets"));
            S->Socket = FWebSocketsModule::Get().CreateWebSocket(Target, TEXT(""));
            S->Socket->OnConnected().AddLambda([Weak]()
            {
                if (auto Live = Weak.lock()) Live->Handlers.on_open();
            });
            S->Socket->OnConnectionError().AddLambda([Weak](const FString& Error)
            {
                if (auto Live = Weak.lock()) Live->Handlers.on_close(ToStd(Error));
            });
            S->Socket->OnClosed().AddLambda([Weak](int32 StatusCode, const FString& Reason, bool bWasClean)
            {
                if (auto Live = Weak.lock()) Live->Handlers.on_close(std::to_string(StatusCode) + " " + ToStd(Reason));
            });
            S->Socket->OnMessage().AddLambda([Weak](const FString& Message)
            {
                if (auto Live = Weak.lock()) Live->Handlers.on_message(ToStd(Message), false);
            });
            S->Socket->OnBinaryMessage().AddLambda([Weak](const void* Data, SIZE_T Size, bool bIsLastFragment)
            {
                if (auto Live = Weak.lock()) Live->Handlers.on_message(std::string(static_cast<const char*>(Data), Size), true);
            });
            S->Socket->Connect();
        });
    }

    bool send(const std::string& Text) override
    {
        std::weak_ptr<FSocketState> Weak = State;
        const FString Message = ToFString(Text);
        AsyncTask(ENamedThreads::GameThread, [Weak, Message]()
        {
            auto S = Weak.lock();
            if (S && S->Socket.IsValid() && S->Socket->IsConnected()) S->Socket->Send(Message);
        });
        return true;
    }

    void close() override
    {
        std::weak_ptr<FSocketState> Weak = State;
        AsyncTask(ENamedThreads::GameThread, [Weak]()
        {
            auto S = Weak.lock();
            if (S && S->Socket.IsValid()) S->Socket->Close();
        });
    }

private:
    std::shared_ptr<FSocketState> State;
};
}  // namespace

void UPersonaMCPSubsystem::Initialize(FSubsystemCollectionBase& Collection)
{
    Super::Initialize(Collection);
    Connect();
}

void UPersonaMCPSubsystem::Deinitialize()
{
    Disconnect();
    Super::Deinitialize();
}

void UPersonaMCPSubsystem::Connect()
{
    Disconnect();
    personamcp::ClientOptions Options;
    Options.api_key = ToStd(ApiKey);
    Options.log = [](const std::string& Message)
    {
        const FString Text = ToFString(Message);
        AsyncTask(ENamedThreads::GameThread, [Text]() { UE_LOG(LogPersonaMCP, Warning, TEXT("%s"), *Text); });
    };
    personamcp::TransportFactory Factory = []() { return std::unique_ptr<personamcp::Transport>(new FUnrealWebSocketTransport()); };
    Client = MakeUnique<personamcp::PersonaClient>(ToStd(ServerUrl), Factory, Options);
    Client->connect([](const personamcp::Outcome& Result)
    {
        if (!Result.ok)
        {
            const FString Text = ToFString(Result.message());
            AsyncTask(ENamedThreads::GameThread, [Text]() { UE_LOG(LogPersonaMCP, Error, TEXT("could not connect: %s"), *Text); });
        }
    });
}

void UPersonaMCPSubsystem::Disconnect()
{
    if (Client.IsValid())
    {
        Client->close();
        Client.Reset();
    }
}

bool UPersonaMCPSubsystem::IsConnected() const
{
    return Client.IsValid() && Client->connected();
}
