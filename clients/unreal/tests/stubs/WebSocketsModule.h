#pragma once
#include "IWebSocket.h"
#include "Modules/ModuleManager.h"
class FWebSocketsModule : public IModuleInterface {
public:
    static FWebSocketsModule& Get() { static FWebSocketsModule m; return m; }
    TSharedPtr<IWebSocket> CreateWebSocket(const FString& Url, const FString& Protocol);
};
