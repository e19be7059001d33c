#pragma once
#include "CoreMinimal.h"
class UWorld;
class UActorComponent : public UObject {
public:
    UWorld* GetWorld() const { return nullptr; }
};
