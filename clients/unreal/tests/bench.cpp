// persona.get round trips through the C++ core (Beast transport), one at a time:
// `bench URL KEY N WARMUP`. Prints {"client": "unreal", "samples_ms": [...]}.
#include <chrono>
#include <iostream>

#include "BeastTransport.h"
#include "PersonaMCPCore.h"

int main(int argc, char** argv) {
    if (argc != 5) return 2;
    personamcp::ClientOptions options;
    options.api_key = argv[2];
    int n = std::stoi(argv[3]), warmup = std::stoi(argv[4]);
    personamcp::PersonaClient client(argv[1], personamcp::beast_transport(), options);
    client.connect_sync();
    for (int i = 0; i < warmup; ++i) client.persona_get("alice").get();
    personamcp::JsonArray samples;
    for (int i = 0; i < n; ++i) {
        auto t0 = std::chrono::steady_clock::now();
        client.persona_get("alice").get();
        samples.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    client.close();
    std::cout << personamcp::Json::object({{"client", "unreal"}, {"samples_ms", personamcp::Json(samples)}}).dump() << std::endl;
    return 0;
}
