// The Unreal plugin's engine-free core against the live server and a misbehaving one, through
// the Boost.Beast transport: `make test` (the server comes from scripts/test_clients.sh).
#include <atomic>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "BeastTransport.h"
#include "PersonaMCPCore.h"

using namespace personamcp;
using namespace std::chrono_literals;

namespace {

std::string env(const char* name) {
    const char* v = std::getenv(name);
    if (!v || !*v) throw std::runtime_error(std::string(name) + " is not set: run scripts/test_clients.sh unreal");
    return v;
}
const std::string URL = env("PERSONAMCP_URL"), KEY = env("PERSONAMCP_KEY"), READ_KEY = env("PERSONAMCP_READ_KEY"),
                  BAD_URL = env("PERSONAMCP_BAD_URL"), CONTROL = env("PERSONAMCP_CONTROL"), REPLY = env("PERSONAMCP_REPLY");

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
#define CHECK(cond) do { if (!(cond)) throw Failure(std::string("check failed: ") + #cond + " (line " + std::to_string(__LINE__) + ")"); } while (0)
#define EQUAL(a, b) do { auto _a = (a); auto _b = (b); if (!(_a == _b)) throw Failure(std::string("line ") + std::to_string(__LINE__) + ": " #a " != " #b); } while (0)

template <class E, class F>
E throws(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e;
    } catch (const std::exception& e) {
        throw Failure(std::string("wrong exception: ") + e.what());
    }
    throw Failure("nothing was thrown");
}

struct Logs {
    std::mutex m;
    std::vector<std::string> lines;
    std::function<void(const std::string&)> sink() {
        return [this](const std::string& l) { std::lock_guard<std::mutex> g(m); lines.push_back(l); };
    }
    std::string text() {
        std::lock_guard<std::mutex> g(m);
        std::string all;
        for (auto& l : lines) all += l + "\n";
        return all;
    }
};

ClientOptions opts(const std::string& key, Logs* logs = nullptr) {
    ClientOptions o;
    o.api_key = key;
    o.request_timeout = 30s;
    static Logs quiet;
    o.log = (logs ? logs : &quiet)->sink();
    return o;
}

std::unique_ptr<PersonaClient> connect(const std::string& url, ClientOptions o) {
    auto c = std::make_unique<PersonaClient>(url, beast_transport(), std::move(o));
    c->connect_sync();
    return c;
}

Json sync_stream(PersonaClient& c, const std::string& content, Json options, std::vector<std::string>* deltas, std::int64_t* id_out = nullptr,
                 std::function<void(const std::string&)> first = nullptr) {
    auto promise = std::make_shared<std::promise<Json>>();
    auto future = promise->get_future();
    auto mutex = std::make_shared<std::mutex>();
    auto id = c.stream(content, std::move(options),
        [deltas, mutex, first](const std::string& d, std::int64_t) {
            std::lock_guard<std::mutex> g(*mutex);
            if (deltas) deltas->push_back(d);
            if (first && deltas && deltas->size() == 1) first(d);
        },
        [promise](const Outcome& out) {
            if (out.ok) promise->set_value(out.result);
            else promise->set_exception(out.error);
        });
    if (id_out) *id_out = id;
    return future.get();
}

// POST /restart to the test server's control endpoint (plain HTTP/1.0 on loopback).
void restart_server() {
    std::string rest = CONTROL.substr(CONTROL.find("://") + 3);
    int port = std::stoi(rest.substr(rest.rfind(':') + 1));
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::string req = "POST /restart HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n";
    CHECK(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
    std::string answer;
    char buf[1024];
    for (ssize_t got; (got = ::recv(fd, buf, sizeof buf, 0)) > 0;) answer.append(buf, static_cast<std::size_t>(got));
    ::close(fd);
    CHECK(answer.rfind("HTTP/1.0 200", 0) == 0);
}

// --- the tests -----------------------------------------------------------------------------

void call_returns_the_result_and_scopes() {
    auto c = connect(URL, opts(KEY));
    EQUAL(c->persona_get("alice").get()["slug"].as_string(), std::string("alice"));
    EQUAL(c->scopes(), (std::vector<std::string>{"read", "write"}));
}

void unknown_persona_is_a_typed_error() {
    auto c = connect(URL, opts(KEY));
    auto e = throws<RpcError>([&] { c->persona_get("nobody-here").get(); });
    EQUAL(e.code, codes::PersonaNotFound);
}

void unknown_param_lists_the_field() {
    auto c = connect(URL, opts(KEY));
    auto e = throws<RpcError>([&] { c->call("persona.get", Json::object({{"persona_id", "alice"}, {"colour", "red"}})).get(); });
    EQUAL(e.code, codes::InvalidParams);
    EQUAL(e.fields(), std::vector<std::string>{"colour"});
}

void key_without_scope_is_forbidden() {
    auto c = connect(URL, opts(READ_KEY));
    EQUAL(c->persona_get("rook").get()["slug"].as_string(), std::string("rook"));
    auto e = throws<RpcError>([&] { c->call("persona.create", Json::object({{"name", "Should Not Exist"}})).get(); });
    EQUAL(e.code, codes::Forbidden);
}

void refused_key_fails_connect() {
    auto o = opts("pmcp_bad");
    o.reconnect = false;
    auto e = throws<RpcError>([&] { connect(URL, o); });
    EQUAL(e.code, codes::Unauthenticated);
}

void unreachable_server_fails_connect() {
    throws<ConnectionLost>([&] { connect("ws://127.0.0.1:9/mcp", opts(KEY)); });
}

void send_returns_the_turn() {
    auto c = connect(URL, opts(KEY));
    auto r = c->send("Hello there!", Json::object({{"persona_id", "alice"}, {"sender", "cpp-send"}})).get();
    EQUAL(r["response"].as_string(), REPLY);
    CHECK(r["message_id"].as_int() > 0);
}

void stream_delivers_deltas_then_result() {
    auto c = connect(URL, opts(KEY));
    c->switch_persona("rook").get();
    EQUAL(c->active_persona(), std::string("rook"));
    std::vector<std::string> deltas;
    auto r = sync_stream(*c, "Tell me about the road", Json::object({{"sender", "cpp-stream"}}), &deltas);
    CHECK(deltas.size() > 3);
    std::string joined;
    for (auto& d : deltas) joined += d;
    EQUAL(joined, r["response"].as_string());
    EQUAL(joined, REPLY);
}

void concurrent_requests_are_matched() {
    auto c = connect(URL, opts(KEY));
    std::atomic<bool> finished{false};
    auto done = std::make_shared<std::promise<void>>();
    c->stream("A long story", Json::object({{"persona_id", "elias"}, {"sender", "cpp-conc"}}), nullptr,
              [&finished, done](const Outcome& out) { finished = out.ok; done->set_value(); });
    std::vector<std::string> names;
    for (int k = 0; k < 3; ++k)
        for (auto n : {"alice", "rook", "elias", "pip"}) names.push_back(n);
    std::vector<std::future<Json>> futures;
    for (auto& n : names) futures.push_back(c->persona_get(n));
    for (std::size_t k = 0; k < names.size(); ++k) EQUAL(futures[k].get()["slug"].as_string(), names[k]);
    CHECK(!finished);  // the reads did not wait for the turn
    done->get_future().get();
    CHECK(finished);
}

void cancel_ends_the_stream() {
    auto c = connect(URL, opts(KEY));
    std::vector<std::string> deltas;
    std::int64_t id = 0;
    auto first = std::make_shared<std::promise<std::string>>();
    auto first_delta = first->get_future();
    auto promise = std::make_shared<std::promise<Outcome>>();
    auto outcome = promise->get_future();
    auto mutex = std::make_shared<std::mutex>();
    std::string conversation;
    id = c->stream("Talk for a while", Json::object({{"persona_id", "alice"}, {"sender", "cpp-cancel"}}),
                   [first, mutex, n = std::make_shared<int>(0)](const std::string& d, std::int64_t) {
                       std::lock_guard<std::mutex> g(*mutex);
                       if ((*n)++ == 0) first->set_value(d);
                   },
                   [promise](const Outcome& out) { promise->set_value(out); });
    auto delta = first_delta.get();
    CHECK(c->cancel(id).get());
    auto out = outcome.get();
    CHECK(!out.ok);
    EQUAL(out.code, codes::Cancelled);
    auto e = throws<RpcError>([&] { out.get(); });
    EQUAL(e.code, codes::Cancelled);
    auto conversations = c->call("conversation.list", Json::object({{"persona_id", "alice"}, {"participant", "cpp-cancel"}})).get();
    conversation = conversations["conversations"].as_array().at(0)["id"].as_string();
    auto last = c->history(conversation).get()["messages"].as_array().back();
    EQUAL(last["status"].as_string(), std::string("cancelled"));
    std::string trimmed = delta.substr(0, delta.find_last_not_of(' ') + 1);
    CHECK(last["content"].as_string().rfind(trimmed, 0) == 0);
}

void subscribe_delivers_events() {
    auto c = connect(URL, opts(KEY));
    auto other = connect(URL, opts(KEY));
    auto seen = std::make_shared<std::promise<Event>>();
    auto once = std::make_shared<std::once_flag>();
    auto sub = c->subscribe({"persona.pip"}, [seen, once](const Event& e) { std::call_once(*once, [&] { seen->set_value(e); }); });
    sub.second.get();
    other->persona_update("pip", Json::object({{"description", "seen by C++ " + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())}})).get();
    auto future = seen->get_future();
    CHECK(future.wait_for(10s) == std::future_status::ready);
    auto ev = future.get();
    EQUAL(ev.type, std::string("persona.updated"));
    EQUAL(ev.data["slug"].as_string(), std::string("pip"));
    c->unsubscribe(sub.first).get();
    CHECK(c->session_info().get()["subscriptions"].as_array().empty());
}

void reconnects_after_restart() {
    auto o = opts(KEY);
    o.backoff_initial = 50ms;
    o.backoff_max = 500ms;
    auto c = connect(URL, o);
    c->switch_persona("elias").get();
    auto seen = std::make_shared<std::promise<Event>>();
    auto once = std::make_shared<std::once_flag>();
    c->subscribe({"persona.*"}, [seen, once](const Event& e) { std::call_once(*once, [&] { seen->set_value(e); }); }).second.get();
    EQUAL(c->connects(), 1);
    restart_server();
    auto info = c->session_info().get();  // waits while the client reconnects
    EQUAL(c->connects(), 2);
    CHECK(info["authenticated"].as_bool());
    EQUAL(info["subscriptions"].dump(), std::string("[\"persona.*\"]"));
    EQUAL(info["active_persona"]["slug"].as_string(), std::string("elias"));
    CHECK(!c->send("Are you back?", Json::object({{"sender", "cpp-reconnect"}})).get()["response"].as_string().empty());
    c->persona_update("elias", Json::object({{"description", "after the restart (C++) " + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count())}})).get();
    auto future = seen->get_future();
    CHECK(future.wait_for(10s) == std::future_status::ready);
}

void timeout_then_still_usable() {
    auto bad = connect(BAD_URL, opts(""));
    throws<RequestTimeout>([&] { bad->call("silent", Json(), 300ms).get(); });
    EQUAL(bad->call("echo", Json::object({{"x", 1}})).get()["params"]["x"].as_int(), 1);
}

void bad_frames_are_logged_and_ignored() {
    Logs logs;
    {
        auto bad = connect(BAD_URL, opts("", &logs));
        std::vector<std::future<Json>> answers;
        for (int n = 0; n < 5; ++n) answers.push_back(bad->call("echo", Json::object({{"n", n}})));
        for (int n = 0; n < 5; ++n) EQUAL(answers[n].get()["params"]["n"].as_int(), n);
        auto e = throws<RpcError>([&] { bad->call("fail").get(); });
        EQUAL(e.code, -32099);
        EQUAL(e.data["n"].as_int(), 7);
    }
    auto text = logs.text();
    for (auto part : {"not JSON", "binary frame", "unknown id", "neither or both", "not a message"})
        CHECK(text.find(part) != std::string::npos);
}

void v11_wrappers_send_the_documented_shape() {
    auto bad = connect(BAD_URL, opts(""));
    struct Case { std::future<Json> f; std::string method, params; };
    std::vector<Case> cases;
    cases.push_back({bad->world_event("gift", "a rose", Json::object({{"persona_id", "alice"}})), "world.event",
                     R"({"type":"gift","description":"a rose","persona_id":"alice"})"});
    cases.push_back({bad->scene_move("r1", "alice", 1, 2, 0), "scene.move", R"({"room_id":"r1","entity_id":"alice","position":{"x":1,"y":2,"z":0}})"});
    cases.push_back({bad->trigger_create("alice", "greet", Json::object({{"event_type", "arrive"}}), Json::object({{"say", "hi"}}), true), "trigger.create",
                     R"({"persona_id":"alice","name":"greet","when":{"event_type":"arrive"},"then":{"say":"hi"},"once":true})"});
    cases.push_back({bad->trigger_list("alice"), "trigger.list", R"({"persona_id":"alice"})"});
    cases.push_back({bad->trigger_delete("t1"), "trigger.delete", R"({"trigger_id":"t1"})"});
    cases.push_back({bad->goal_set("alice", "find the key"), "goal.set", R"({"persona_id":"alice","goal":"find the key"})"});
    cases.push_back({bad->goal_list("alice"), "goal.list", R"({"persona_id":"alice"})"});
    cases.push_back({bad->goal_complete("alice", "g1"), "goal.complete", R"({"persona_id":"alice","goal":"g1"})"});
    cases.push_back({bad->lorebook_list("alice"), "lorebook.list", R"({"persona_id":"alice"})"});
    cases.push_back({bad->lorebook_attach("l1", "", "r1"), "lorebook.attach", R"({"lorebook_id":"l1","room_id":"r1"})"});
    cases.push_back({bad->lorebook_export("l1", "character_book"), "lorebook.export", R"({"lorebook_id":"l1","format":"character_book"})"});
    for (auto& c : cases) {
        auto r = c.f.get();
        EQUAL(r["method"].as_string(), c.method);
        EQUAL(r["params"].dump(), c.params);
    }
}

void close_fails_waiting_requests() {
    auto bad = connect(BAD_URL, opts(""));
    auto waiting = bad->call("silent", Json(), 30s);
    bad->close();
    throws<ClientClosed>([&] { waiting.get(); });
    throws<ClientClosed>([&] { bad->ping().get(); });
}

void backoff_grows_with_jitter() {
    std::mt19937 rng(1);
    for (auto [attempt, ceiling] : std::vector<std::pair<int, double>>{{0, 200}, {1, 400}, {3, 1600}, {10, 5000}}) {
        std::set<std::int64_t> seen;
        for (int k = 0; k < 50; ++k) {
            auto d = backoff_delay(attempt, 200ms, 5000ms, rng).count();
            CHECK(d >= ceiling / 2 - 1 && d <= ceiling);
            seen.insert(d);
        }
        CHECK(seen.size() > 1);
    }
}

void json_round_trips() {
    auto j = Json::parse(R"({"a":[1,2.5,-3e2,true,false,null],"s":"q\"\\\n\u00e9\ud83d\ude00","o":{}})");
    EQUAL(j["a"].as_array()[2].as_double(), -300.0);
    EQUAL(j["s"].as_string(), std::string("q\"\\\n\xc3\xa9\xf0\x9f\x98\x80"));
    EQUAL(j.dump(), std::string("{\"a\":[1,2.5,-300,true,false,null],\"s\":\"q\\\"\\\\\\n\xc3\xa9\xf0\x9f\x98\x80\",\"o\":{}}"));
    for (auto bad : {"{", "[1,]", "{\"a\" 1}", "tru", "\"abc", "1 2", "-"}) throws<JsonError>([&] { Json::parse(bad); });
}

void topic_patterns() {
    Event ev{"persona.42", "persona.updated", "", Json::object({{"id", 42}, {"slug", "al"}})};
    for (auto p : {"persona.*", "*", "persona.al", "persona.42"}) CHECK(topic_matches(p, ev));
    for (auto p : {"persona.bob", "room.*"}) CHECK(!topic_matches(p, ev));
}

}  // namespace

int main() {
    std::vector<std::pair<const char*, void (*)()>> tests = {
        {"call returns the result and the key's scopes", call_returns_the_result_and_scopes},
        {"an unknown persona is RpcError -32001", unknown_persona_is_a_typed_error},
        {"an unknown param is -32602 listing the field", unknown_param_lists_the_field},
        {"a key without the scope is forbidden (-32021)", key_without_scope_is_forbidden},
        {"a refused key fails connect (-32020)", refused_key_fails_connect},
        {"an unreachable server fails connect with ConnectionLost", unreachable_server_fails_connect},
        {"send returns the turn result", send_returns_the_turn},
        {"stream delivers the deltas, then the result", stream_delivers_deltas_then_result},
        {"concurrent requests on one socket are matched by id", concurrent_requests_are_matched},
        {"cancel ends the stream with -32031, partial reply kept", cancel_ends_the_stream},
        {"subscribe delivers events; unsubscribe stops them", subscribe_delivers_events},
        {"reconnects after a server restart and restores the session", reconnects_after_restart},
        {"a request timeout fails it; the client stays usable", timeout_then_still_usable},
        {"bad frames and unknown ids are logged and ignored", bad_frames_are_logged_and_ignored},
        {"the v1.1 wrappers send the documented methods and params", v11_wrappers_send_the_documented_shape},
        {"close fails waiting requests with ClientClosed", close_fails_waiting_requests},
        {"backoff grows with jitter up to the maximum", backoff_grows_with_jitter},
        {"JSON reads and writes the protocol's values; rejects bad text", json_round_trips},
        {"topic patterns match by wildcard, id or slug", topic_patterns},
    };
    int failed = 0, n = 0;
    for (auto& t : tests) {
        ++n;
        try {
            t.second();
            std::cout << "ok " << n << " - " << t.first << std::endl;
        } catch (const std::exception& e) {
            ++failed;
            std::cout << "not ok " << n << " - " << t.first << "\n  " << e.what() << std::endl;
        }
    }
    std::cout << (n - failed) << " passed, " << failed << " failed" << std::endl;
    return failed ? 1 : 0;
}
