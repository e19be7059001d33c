// The PersonaMCP runtime module; the WebSockets module is loaded before the first connection.
#include "Modules/ModuleManager.h"

IMPLEMENT_MODULE(FDefaultModuleImpl, PersonaMCP)
