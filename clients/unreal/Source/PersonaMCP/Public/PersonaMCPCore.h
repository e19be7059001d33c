// Persona-MCP client core: engine-free C++17 (standard library only).
//
// JSON values, JSON-RPC framing, the request map (concurrent requests matched by id), streaming
// assembly, events, typed errors, request timeouts and the reconnect policy (exponential
// backoff with jitter; re-authenticate, re-switch, re-subscribe). The socket is behind the small
// `Transport` interface: the Unreal plugin implements it on IWebSocket, the tests on Boost.Beast.
//
// Threads: transport callbacks may arrive on any thread; the client's own timer thread handles
// timeouts and reconnect delays (it sleeps until the next deadline: no polling). User callbacks
// run on the thread that delivered the message (or the timer thread) and never under a lock.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

namespace personamcp {

// --- JSON --------------------------------------------------------------------------------

class Json;
using JsonArray = std::vector<Json>;
using JsonObject = std::vector<std::pair<std::string, Json>>;  // keeps the order of keys

struct JsonError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

class Json {
public:
    using Value = std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, JsonArray, JsonObject>;

    Json() : v_(nullptr) {}
    Json(std::nullptr_t) : v_(nullptr) {}
    Json(bool b) : v_(b) {}
    Json(int i) : v_(static_cast<std::int64_t>(i)) {}
    Json(std::int64_t i) : v_(i) {}
    Json(double d) : v_(d) {}
    Json(const char* s) : v_(std::string(s)) {}
    Json(std::string s) : v_(std::move(s)) {}
    Json(JsonArray a) : v_(std::move(a)) {}
    Json(JsonObject o) : v_(std::move(o)) {}
    /// An object from {{"key", value}, ...}.
    static Json object(std::initializer_list<std::pair<std::string, Json>> items = {}) {
        return Json(JsonObject(items));
    }
    static Json array(std::initializer_list<Json> items = {}) { return Json(JsonArray(items)); }

    bool is_null() const { return std::holds_alternative<std::nullptr_t>(v_); }
    bool is_bool() const { return std::holds_alternative<bool>(v_); }
    bool is_int() const { return std::holds_alternative<std::int64_t>(v_); }
    bool is_number() const { return is_int() || std::holds_alternative<double>(v_); }
    bool is_string() const { return std::holds_alternative<std::string>(v_); }
    bool is_array() const { return std::holds_alternative<JsonArray>(v_); }
    bool is_object() const { return std::holds_alternative<JsonObject>(v_); }

    bool as_bool(bool fallback = false) const { return is_bool() ? std::get<bool>(v_) : fallback; }
    std::int64_t as_int(std::int64_t fallback = 0) const;
    double as_double(double fallback = 0) const;
    const std::string& as_string() const;  // "" when not a string
    const JsonArray& as_array() const;     // empty when not an array
    const JsonObject& as_object() const;   // empty when not an object

    /// Member lookup (nullptr when absent or not an object).
    const Json* find(const std::string& key) const;
    bool contains(const std::string& key) const { return find(key) != nullptr; }
    /// Member (a null Json when absent).
    const Json& operator[](const std::string& key) const;
    /// Set a member (makes this an object if it was null).
    Json& set(const std::string& key, Json value);

    std::string dump() const;
    static Json parse(const std::string& text);  // throws JsonError

    bool operator==(const Json& other) const { return v_ == other.v_; }
    bool operator!=(const Json& other) const { return !(*this == other); }
    const Value& value() const { return v_; }

private:
    Value v_;
};

// --- errors ------------------------------------------------------------------------------

/// Base class of every error this client reports.
struct PersonaMCPError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
/// The socket closed while the request waited; the client reconnects by itself.
struct ConnectionLost : PersonaMCPError {
    using PersonaMCPError::PersonaMCPError;
};
struct ClientClosed : PersonaMCPError {
    ClientClosed() : PersonaMCPError("client closed") {}
};
struct RequestTimeout : PersonaMCPError {
    using PersonaMCPError::PersonaMCPError;
};
struct TooManyRequests : PersonaMCPError {
    using PersonaMCPError::PersonaMCPError;
};

namespace codes {
constexpr int ParseError = -32700, InvalidRequest = -32600, MethodNotFound = -32601,
              InvalidParams = -32602, InternalError = -32603, PersonaNotFound = -32001,
              NoActivePersona = -32002, ConversationNotFound = -32003, MemoryNotFound = -32004,
              RoomNotFound = -32005, BotNotFound = -32006, LLMUnavailable = -32010,
              LLMTimeout = -32011, Unauthenticated = -32020, Forbidden = -32021,
              RateLimited = -32029, Busy = -32030, Cancelled = -32031, Conflict = -32040;
}

/// An error response: code, message and data as the server sent them.
struct RpcError : PersonaMCPError {
    RpcError(int code, std::string message, Json data)
        : PersonaMCPError(message + " (" + std::to_string(code) + ")"),
          code(code), rpc_message(std::move(message)), data(std::move(data)) {}
    int code;
    std::string rpc_message;
    Json data;
    /// data.errors[].field of an invalid-params error.
    std::vector<std::string> fields() const;
};

/// The outcome of a request: a result or an error (RpcError, ConnectionLost, ...).
struct Outcome {
    bool ok = false;
    Json result;
    std::exception_ptr error;
    /// The JSON-RPC code when the server answered with an error, else 0.
    int code = 0;
    /// Rethrows the error, or returns the result.
    const Json& get() const;
    /// The error's message ("" when ok).
    std::string message() const;
};
using ResultCallback = std::function<void(const Outcome&)>;

// --- transport ---------------------------------------------------------------------------

/// One WebSocket connection attempt. The client makes a new one per attempt (a factory), so a
/// transport's callbacks never outlive its connection. After `connect`, exactly one of
/// `on_open` / `on_close` follows; after `on_open`, `on_message` for each frame and one
/// `on_close` at the end.
class Transport {
public:
    struct Handlers {
        std::function<void()> on_open;
        std::function<void(const std::string& data, bool binary)> on_message;
        std::function<void(const std::string& reason)> on_close;
    };
    virtual ~Transport() = default;
    virtual void connect(const std::string& url, Handlers handlers) = 0;
    /// Queue a text frame; false when the connection is not open.
    virtual bool send(const std::string& text) = 0;
    virtual void close() = 0;
};
using TransportFactory = std::function<std::unique_ptr<Transport>()>;

// --- client ------------------------------------------------------------------------------

struct ClientOptions {
    std::string api_key;  // sent with session.authenticate after every (re)connect
    bool reconnect = true;
    std::chrono::milliseconds request_timeout{60000};
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds backoff_initial{200};
    std::chrono::milliseconds backoff_max{10000};
    /// Requests waiting or on the wire at most; more fail at once with TooManyRequests.
    std::size_t max_in_flight = 256;
    /// Warnings (bad frames, failed handlers, reconnects). Default: stderr.
    std::function<void(const std::string&)> log;
};

struct Event {
    std::string topic, type, at;
    Json data;
};
using EventHandler = std::function<void(const Event&)>;
using DeltaHandler = std::function<void(const std::string& delta, std::int64_t index)>;

/// Exponential backoff with jitter: a random delay in [d/2, d], d = initial * 2^attempt.
std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds maximum, std::mt19937& rng);
/// Whether an event belongs to a topic pattern (persona.*, persona.alice, *): the server names
/// the primary topic (persona.<id>); a pattern may name the object by slug.
bool topic_matches(const std::string& pattern, const Event& event);

class PersonaClient {
public:
    PersonaClient(std::string url, TransportFactory factory, ClientOptions options = {});
    ~PersonaClient();
    PersonaClient(const PersonaClient&) = delete;
    PersonaClient& operator=(const PersonaClient&) = delete;

    /// Open the first connection and restore the session; `done` gets the outcome (an error
    /// when unreachable or the key is refused: the client does not retry a first connect).
    void connect(ResultCallback done);
    /// The same, blocking.
    void connect_sync();
    /// Close the socket; waiting requests fail with ClientClosed. Blocks until the timer
    /// thread stopped; callbacks that are running finish first.
    void close();

    bool connected() const;
    int connects() const;
    std::vector<std::string> scopes() const;
    std::string active_persona() const;

    /// Call a method; `done` gets the outcome. Returns the request id.
    std::int64_t call(const std::string& method, Json params, ResultCallback done,
                      std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());
    /// The same as a future: get() returns the result or throws (RpcError...).
    std::future<Json> call(const std::string& method, Json params = Json(),
                           std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());

    /// Make the persona (id or slug) active; kept across reconnects.
    std::future<Json> switch_persona(const std::string& persona);
    /// One turn; options are more params of conversation.send_message.
    std::future<Json> send(const std::string& content, Json options = Json::object());
    /// A streaming turn: `on_delta` per delta as it arrives, `done` with the result (its
    /// `response` is the assembled reply). Returns the request id (for `cancel`). On a timeout
    /// the client also cancels the turn on the server.
    std::int64_t stream(const std::string& content, Json options, DeltaHandler on_delta,
                        ResultCallback done,
                        std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());
    /// The reply assembled so far for a streaming request (in index order).
    std::string stream_text(std::int64_t request_id) const;
    /// Cancel a streaming request; the future gets true when it was still running.
    std::future<bool> cancel(std::int64_t request_id);

    /// Call `handler` for each event on these topics; kept across reconnects. Returns an id
    /// for unsubscribe; the future completes when the server confirmed.
    std::pair<int, std::future<Json>> subscribe(std::vector<std::string> topics, EventHandler handler);
    std::future<Json> unsubscribe(int subscription);
    /// Every notification other than chunks and events: (method, params).
    void on_notification(std::function<void(const std::string&, const Json&)> handler);

    // thin typed wrappers (futures of the result)
    std::future<Json> ping() { return call("system.ping"); }
    std::future<Json> session_info() { return call("session.info"); }
    std::future<Json> persona_get(const std::string& id) { return call("persona.get", Json::object({{"persona_id", id}})); }
    std::future<Json> persona_update(const std::string& id, Json fields);
    std::future<Json> history(const std::string& conversation_id) { return call("conversation.history", Json::object({{"conversation_id", conversation_id}})); }
    // v1.1: game worlds
    std::future<Json> world_event(const std::string& type, const std::string& description, Json options = Json::object());
    std::future<Json> scene_move(const std::string& room_id, const std::string& entity_id, double x, double y, double z = 0);
    std::future<Json> trigger_create(const std::string& persona_id, const std::string& name, Json when, Json then, bool once = false);
    std::future<Json> trigger_list(const std::string& persona_id = "");
    std::future<Json> trigger_delete(const std::string& trigger_id) { return call("trigger.delete", Json::object({{"trigger_id", trigger_id}})); }
    std::future<Json> goal_set(const std::string& persona_id, Json goal) { return call("goal.set", Json::object({{"persona_id", persona_id}, {"goal", std::move(goal)}})); }
    std::future<Json> goal_list(const std::string& persona_id) { return call("goal.list", Json::object({{"persona_id", persona_id}})); }
    std::future<Json> goal_complete(const std::string& persona_id, Json goal) { return call("goal.complete", Json::object({{"persona_id", persona_id}, {"goal", std::move(goal)}})); }
    // v1.1: lorebooks
    std::future<Json> lorebook_list(const std::string& persona_id = "", const std::string& room_id = "");
    std::future<Json> lorebook_get(const std::string& id) { return call("lorebook.get", Json::object({{"lorebook_id", id}})); }
    std::future<Json> lorebook_create(const std::string& name, Json entries, Json options = Json::object());
    std::future<Json> lorebook_delete(const std::string& id) { return call("lorebook.delete", Json::object({{"lorebook_id", id}})); }
    std::future<Json> lorebook_attach(const std::string& id, const std::string& persona_id, const std::string& room_id = "");
    std::future<Json> lorebook_detach(const std::string& id, const std::string& persona_id, const std::string& room_id = "");
    std::future<Json> lorebook_export(const std::string& id, const std::string& format = "");

private:
    struct State;
    std::shared_ptr<State> s_;
};

}  // namespace personamcp
