// A Transport on Boost.Beast (header-only, from the distribution's libboost-dev): used by the
// tests, the example and the benchmark to run the engine-free core against a live server
// outside the engine. One io_context thread per connection; sends are queued on it and written
// one at a time. (BeastTransport.cpp: compiled once, Beast is heavy.)
#pragma once

#include "PersonaMCPCore.h"

namespace personamcp {

/// A factory of Boost.Beast transports for ws:// URLs.
TransportFactory beast_transport();

}  // namespace personamcp
