#pragma once
#include "CoreMinimal.h"
namespace ENamedThreads { enum Type { GameThread, AnyThread }; }
inline void AsyncTask(ENamedThreads::Type, std::function<void()> work) { work(); }
