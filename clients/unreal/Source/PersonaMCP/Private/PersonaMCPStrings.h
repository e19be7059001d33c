// UTF-8 <-> FString for the glue (one definition: unity builds merge the module's .cpp files).
#pragma once

#include "CoreMinimal.h"

#include <string>

namespace PersonaMCPStrings
{
inline FString ToFString(const std::string& Text) { return FString(UTF8_TO_TCHAR(Text.c_str())); }
inline std::string ToStd(const FString& Text) { return std::string(TCHAR_TO_UTF8(*Text)); }
}  // namespace PersonaMCPStrings
