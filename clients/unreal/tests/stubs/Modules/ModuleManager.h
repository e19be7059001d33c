#pragma once
#include "CoreMinimal.h"
class IModuleInterface { public: virtual ~IModuleInterface() = default; };
class FDefaultModuleImpl : public IModuleInterface {};
class FModuleManager {
public:
    static FModuleManager& Get() { static FModuleManager m; return m; }
    template <class T> T& LoadModuleChecked(const TCHAR*) { static T module; return module; }
};
#define IMPLEMENT_MODULE(Impl, Name) static Impl Name##_Module;
