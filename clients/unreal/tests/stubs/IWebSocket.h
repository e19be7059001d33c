#pragma once
#include "CoreMinimal.h"
class IWebSocket {
public:
    virtual ~IWebSocket() = default;
    virtual void Connect() = 0;
    virtual void Close(int32 Code = 1000, const FString& Reason = FString()) = 0;
    virtual bool IsConnected() = 0;
    virtual void Send(const FString& Data) = 0;
    TMulticastStub<>& OnConnected() { return connected_; }
    TMulticastStub<const FString&>& OnConnectionError() { return error_; }
    TMulticastStub<int32, const FString&, bool>& OnClosed() { return closed_; }
    TMulticastStub<const FString&>& OnMessage() { return message_; }
    TMulticastStub<const void*, SIZE_T, bool>& OnBinaryMessage() { return binary_; }
private:
    TMulticastStub<> connected_;
    TMulticastStub<const FString&> error_;
    TMulticastStub<int32, const FString&, bool> closed_;
    TMulticastStub<const FString&> message_;
    TMulticastStub<const void*, SIZE_T, bool> binary_;
};
