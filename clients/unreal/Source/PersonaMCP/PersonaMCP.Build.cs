// Unreal Build Tool rules for the PersonaMCP runtime module.
using UnrealBuildTool;

public class PersonaMCP : ModuleRules
{
    public PersonaMCP(ReadOnlyTargetRules Target) : base(Target)
    {
        PCHUsage = PCHUsageMode.UseExplicitOrSharedPCHs;
        CppStandard = CppStandardVersion.Cpp17;
        bEnableExceptions = true; // the engine-free core reports errors as C++ exceptions
        PublicDependencyModuleNames.AddRange(new string[] { "Core", "CoreUObject", "Engine" });
        PrivateDependencyModuleNames.AddRange(new string[] { "WebSockets" });
    }
}
