#pragma once
#include "CoreMinimal.h"
class FSubsystemCollectionBase {};
class UGameInstanceSubsystem : public UObject {
public:
    using Super = UGameInstanceSubsystem;
    virtual void Initialize(FSubsystemCollectionBase&) {}
    virtual void Deinitialize() {}
};
