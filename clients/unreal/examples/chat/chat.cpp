// Stream one reply: `make example ARGS="URL PERSONA MESSAGE"` (API key in $PERSONAMCP_KEY).
// Prints the deltas as they arrive, then the turn result as one JSON line. Uses the plugin's
// engine-free core with the Boost.Beast transport.
#include <cstdlib>
#include <iostream>

#include "../../tests/BeastTransport.h"  // the Boost.Beast transport (tests/BeastTransport.cpp)
#include "PersonaMCPCore.h"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: chat URL PERSONA MESSAGE   (API key in $PERSONAMCP_KEY)" << std::endl;
        return 2;
    }
    personamcp::ClientOptions options;
    if (const char* key = std::getenv("PERSONAMCP_KEY")) options.api_key = key;
    try {
        personamcp::PersonaClient client(argv[1], personamcp::beast_transport(), options);
        client.connect_sync();
        std::promise<personamcp::Outcome> done;
        auto outcome = done.get_future();
        client.stream(argv[3], personamcp::Json::object({{"persona_id", argv[2]}}),
                      [](const std::string& delta, std::int64_t) { std::cout << delta << std::flush; },
                      [&done](const personamcp::Outcome& out) { done.set_value(out); });
        auto result = outcome.get().get();  // throws the error, if any
        std::cout << "\n" << result.dump() << std::endl;
        client.close();
        return 0;
    } catch (const personamcp::RpcError& e) {
        std::cerr << "error " << e.code << ": " << e.rpc_message << std::endl;
    } catch (const std::exception& e) {
        std::cerr << e.what() << std::endl;
    }
    return 1;
}
