#pragma once
#include "CoreMinimal.h"
class UGameInstance : public UObject {
public:
    template <class T> T* GetSubsystem() const { return nullptr; }
};
