// Persona-MCP client core (engine-free C++17): see PersonaMCPCore.h.
#include "PersonaMCPCore.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <sstream>

namespace personamcp {

// --- JSON --------------------------------------------------------------------------------

namespace {
const Json kNull;
const std::string kEmptyString;
const JsonArray kEmptyArray;
const JsonObject kEmptyObject;

void write_string(std::string& out, const std::string& s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            case '\b': out += "\\b"; break;
            case '\f': out += "\\f"; break;
            default:
                if (c < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
}

void write(std::string& out, const Json& j) {
    const auto& v = j.value();
    if (std::holds_alternative<std::nullptr_t>(v)) {
        out += "null";
    } else if (auto b = std::get_if<bool>(&v)) {
        out += *b ? "true" : "false";
    } else if (auto i = std::get_if<std::int64_t>(&v)) {
        out += std::to_string(*i);
    } else if (auto d = std::get_if<double>(&v)) {
        if (!std::isfinite(*d)) {
            out += "null";
        } else {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.17g", *d);
            out += buf;
        }
    } else if (auto s = std::get_if<std::string>(&v)) {
        write_string(out, *s);
    } else if (auto a = std::get_if<JsonArray>(&v)) {
        out += '[';
        for (std::size_t k = 0; k < a->size(); ++k) {
            if (k) out += ',';
            write(out, (*a)[k]);
        }
        out += ']';
    } else if (auto o = std::get_if<JsonObject>(&v)) {
        out += '{';
        for (std::size_t k = 0; k < o->size(); ++k) {
            if (k) out += ',';
            write_string(out, (*o)[k].first);
            out += ':';
            write(out, (*o)[k].second);
        }
        out += '}';
    }
}

void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

class Parser {
public:
    explicit Parser(const std::string& s) : s_(s) {}
    Json parse() {
        space();
        Json v = value(0);
        space();
        if (i_ != s_.size()) fail("trailing characters");
        return v;
    }

private:
    const std::string& s_;
    std::size_t i_ = 0;

    [[noreturn]] void fail(const char* what) const {
        throw JsonError(std::string(what) + " at " + std::to_string(i_));
    }
    void space() {
        while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
    }
    char peek() const {
        if (i_ >= s_.size()) fail("unexpected end");
        return s_[i_];
    }
    void expect(const char* word) {
        for (const char* p = word; *p; ++p, ++i_)
            if (i_ >= s_.size() || s_[i_] != *p) fail("bad literal");
    }
    Json value(int depth) {
        if (depth > 512) fail("nested too deeply");
        char c = peek();
        if (c == '{') return object(depth);
        if (c == '[') return array(depth);
        if (c == '"') return Json(string());
        if (c == 't') { expect("true"); return Json(true); }
        if (c == 'f') { expect("false"); return Json(false); }
        if (c == 'n') { expect("null"); return Json(); }
        if (c == '-' || (c >= '0' && c <= '9')) return number();
        fail("unexpected character");
    }
    Json object(int depth) {
        JsonObject o;
        ++i_;
        space();
        if (peek() == '}') { ++i_; return Json(std::move(o)); }
        for (;;) {
            space();
            if (peek() != '"') fail("expected a key");
            std::string key = string();
            space();
            if (peek() != ':') fail("expected ':'");
            ++i_;
            space();
            o.emplace_back(std::move(key), value(depth + 1));
            space();
            char c = peek();
            ++i_;
            if (c == '}') return Json(std::move(o));
            if (c != ',') fail("expected ',' or '}'");
        }
    }
    Json array(int depth) {
        JsonArray a;
        ++i_;
        space();
        if (peek() == ']') { ++i_; return Json(std::move(a)); }
        for (;;) {
            space();
            a.push_back(value(depth + 1));
            space();
            char c = peek();
            ++i_;
            if (c == ']') return Json(std::move(a));
            if (c != ',') fail("expected ',' or ']'");
        }
    }
    unsigned hex4() {
        if (i_ + 4 > s_.size()) fail("bad \\u escape");
        unsigned v = 0;
        for (int k = 0; k < 4; ++k) {
            char c = s_[i_++];
            v <<= 4;
            if (c >= '0' && c <= '9') v |= c - '0';
            else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
            else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
            else fail("bad \\u escape");
        }
        return v;
    }
    std::string string() {
        std::string out;
        ++i_;
        for (;;) {
            char c = peek();
            ++i_;
            if (c == '"') return out;
            if (c != '\\') { out += c; continue; }
            char e = peek();
            ++i_;
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned cp = hex4();
                    if (cp >= 0xD800 && cp <= 0xDBFF && i_ + 1 < s_.size() && s_[i_] == '\\' && s_[i_ + 1] == 'u') {
                        i_ += 2;
                        unsigned lo = hex4();
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    append_utf8(out, cp);
                    break;
                }
                default: fail("bad escape");
            }
        }
    }
    Json number() {
        std::size_t start = i_;
        bool integer = true;
        if (s_[i_] == '-') ++i_;
        while (i_ < s_.size()) {
            char c = s_[i_];
            if (c >= '0' && c <= '9') { ++i_; continue; }
            if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') { integer = false; ++i_; continue; }
            break;
        }
        std::string text = s_.substr(start, i_ - start);
        if (text == "-" || text.empty()) fail("bad number");
        char* end = nullptr;
        if (integer) {
            errno = 0;
            long long v = std::strtoll(text.c_str(), &end, 10);
            if (errno == 0 && *end == '\0') return Json(static_cast<std::int64_t>(v));
        }
        double d = std::strtod(text.c_str(), &end);
        if (*end != '\0') fail("bad number");
        return Json(d);
    }
};
}  // namespace

std::int64_t Json::as_int(std::int64_t fallback) const {
    if (auto i = std::get_if<std::int64_t>(&v_)) return *i;
    if (auto d = std::get_if<double>(&v_)) return static_cast<std::int64_t>(*d);
    return fallback;
}
double Json::as_double(double fallback) const {
    if (auto d = std::get_if<double>(&v_)) return *d;
    if (auto i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
    return fallback;
}
const std::string& Json::as_string() const {
    auto s = std::get_if<std::string>(&v_);
    return s ? *s : kEmptyString;
}
const JsonArray& Json::as_array() const {
    auto a = std::get_if<JsonArray>(&v_);
    return a ? *a : kEmptyArray;
}
const JsonObject& Json::as_object() const {
    auto o = std::get_if<JsonObject>(&v_);
    return o ? *o : kEmptyObject;
}
const Json* Json::find(const std::string& key) const {
    auto o = std::get_if<JsonObject>(&v_);
    if (!o) return nullptr;
    for (const auto& kv : *o)
        if (kv.first == key) return &kv.second;
    return nullptr;
}
const Json& Json::operator[](const std::string& key) const {
    const Json* j = find(key);
    return j ? *j : kNull;
}
Json& Json::set(const std::string& key, Json value) {
    if (is_null()) v_ = JsonObject{};
    auto& o = std::get<JsonObject>(v_);
    for (auto& kv : o)
        if (kv.first == key) {
            kv.second = std::move(value);
            return *this;
        }
    o.emplace_back(key, std::move(value));
    return *this;
}
std::string Json::dump() const {
    std::string out;
    write(out, *this);
    return out;
}
Json Json::parse(const std::string& text) { return Parser(text).parse(); }

// --- errors ------------------------------------------------------------------------------

std::vector<std::string> RpcError::fields() const {
    std::vector<std::string> out;
    for (const auto& e : data["errors"].as_array()) out.push_back(e["field"].as_string());
    return out;
}

const Json& Outcome::get() const {
    if (!ok) std::rethrow_exception(error);
    return result;
}

std::string Outcome::message() const {
    if (ok || !error) return "";
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown error";
    }
}

namespace {
Outcome failure(std::exception_ptr e, int code = 0) {
    Outcome o;
    o.error = std::move(e);
    o.code = code;
    return o;
}
template <class E>
Outcome failure_of(E e) { return failure(std::make_exception_ptr(std::move(e))); }
}  // namespace

std::chrono::milliseconds backoff_delay(int attempt, std::chrono::milliseconds initial,
                                        std::chrono::milliseconds maximum, std::mt19937& rng) {
    double ceiling = std::min<double>(static_cast<double>(maximum.count()),
                                      static_cast<double>(initial.count()) * std::pow(2.0, std::min(attempt, 30)));
    std::uniform_real_distribution<double> jitter(ceiling / 2, ceiling);
    return std::chrono::milliseconds(static_cast<std::int64_t>(jitter(rng)));
}

bool topic_matches(const std::string& pattern, const Event& event) {
    const std::string& topic = event.topic;
    if (pattern == "*" || pattern == topic) return true;
    if (pattern.size() >= 2 && pattern.compare(pattern.size() - 2, 2, ".*") == 0 &&
        topic.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0)
        return true;
    std::string kind = topic.substr(0, topic.find('.'));
    for (const char* key : {"id", "slug"}) {
        const Json& v = event.data[key];
        std::string name = v.is_string() ? v.as_string() : (v.is_number() ? v.dump() : std::string());
        if (!name.empty() && kind + "." + name == pattern) return true;
    }
    return false;
}

// --- client ------------------------------------------------------------------------------

using Clock = std::chrono::steady_clock;
using Actions = std::vector<std::function<void()>>;

struct PersonaClient::State : std::enable_shared_from_this<PersonaClient::State> {
    enum class Phase { Idle, Connecting, Restoring, Ready, Closed };
    struct Pending {
        std::string method;
        Json params;
        ResultCallback done;
        Clock::time_point deadline;
        bool sent = false;
        bool internal = false;
    };
    struct StreamBuf {
        std::map<std::int64_t, std::string> pieces;
        DeltaHandler on_delta;
    };
    struct Sub {
        std::vector<std::string> topics;
        EventHandler handler;
    };

    std::string url;
    TransportFactory factory;
    ClientOptions o;
    mutable std::mutex m;
    std::condition_variable cv;
    std::unique_ptr<Transport> transport;
    std::vector<std::unique_ptr<Transport>> graveyard;  // destroyed on the timer thread
    std::uint64_t generation = 0;
    Phase phase = Phase::Idle;
    bool ever_ready = false;
    ResultCallback initial_done;
    int attempt = 0;
    Clock::time_point reconnect_at = Clock::time_point::max();
    Clock::time_point connect_deadline = Clock::time_point::max();
    std::map<std::int64_t, Pending> pending;
    std::vector<std::int64_t> waiting;  // not sent yet, in order
    std::map<std::int64_t, StreamBuf> streams;
    std::map<int, Sub> subs;
    int next_sub = 1;
    std::vector<std::function<void(const std::string&, const Json&)>> note_handlers;
    std::string active;
    std::vector<std::string> scopes;
    int connects = 0;
    std::int64_t next_id = 1;
    bool stop = false;
    std::thread timer;
    std::mt19937 rng{std::random_device{}()};

    void log(const std::string& message) const {
        if (o.log) o.log(message);
        else std::cerr << "personamcp: " << message << std::endl;
    }

    static void run(Actions& actions) {
        for (auto& a : actions) a();
        actions.clear();
    }

    std::vector<std::string> topics_locked() const {
        std::set<std::string> all;
        for (const auto& kv : subs) all.insert(kv.second.topics.begin(), kv.second.topics.end());
        return {all.begin(), all.end()};
    }

    // Send a pending request now (lock held). False: the socket is gone.
    bool transmit_locked(std::int64_t id, Pending& p) {
        Json message = Json::object({{"jsonrpc", "2.0"}, {"id", id}, {"method", p.method}});
        if (!p.params.is_null()) message.set("params", p.params);
        p.sent = true;
        return transport && transport->send(message.dump());
    }

    void request_locked(std::int64_t id, const std::string& method, Json params, ResultCallback done,
                        std::chrono::milliseconds timeout, bool internal, Actions& actions) {
        if (phase == Phase::Closed && !internal) {
            actions.push_back([done] { done(failure_of(ClientClosed())); });
            return;
        }
        if (!internal && pending.size() >= o.max_in_flight) {
            actions.push_back([done] { done(failure_of(TooManyRequests("too many requests in flight"))); });
            return;
        }
        Pending p;
        p.method = method;
        p.params = std::move(params);
        p.done = std::move(done);
        p.internal = internal;
        p.deadline = Clock::now() + (timeout.count() > 0 ? timeout : o.request_timeout);
        auto& slot = pending[id] = std::move(p);
        if (internal || phase == Phase::Ready) {
            if (!transmit_locked(id, slot)) {
                auto cb = std::move(slot.done);
                pending.erase(id);
                actions.push_back([cb] { cb(failure_of(ConnectionLost("not connected"))); });
            }
        } else {
            waiting.push_back(id);
        }
        cv.notify_all();
    }

    void start_connect_locked(Actions& actions) {
        ++generation;
        if (transport) graveyard.push_back(std::move(transport));
        transport = factory();
        phase = Phase::Connecting;
        connect_deadline = Clock::now() + o.connect_timeout;
        reconnect_at = Clock::time_point::max();
        std::weak_ptr<State> weak = shared_from_this();
        std::uint64_t gen = generation;
        Transport* t = transport.get();
        Transport::Handlers h;
        h.on_open = [weak, gen] { if (auto s = weak.lock()) s->on_open(gen); };
        h.on_message = [weak, gen](const std::string& data, bool binary) {
            if (auto s = weak.lock()) s->on_message(gen, data, binary);
        };
        h.on_close = [weak, gen](const std::string& reason) { if (auto s = weak.lock()) s->on_close(gen, reason); };
        std::string target = url;
        actions.push_back([t, target, h] { t->connect(target, h); });
        cv.notify_all();
    }

    void on_open(std::uint64_t gen) {
        Actions actions;
        {
            std::lock_guard<std::mutex> lock(m);
            if (gen != generation || phase != Phase::Connecting) return;
            phase = Phase::Restoring;
            connect_deadline = Clock::time_point::max();
            restore_locked(gen, 0, actions);
        }
        run(actions);
    }

    // Session restore: authenticate, switch, subscribe; then flush the waiting requests.
    void restore_locked(std::uint64_t gen, int step, Actions& actions) {
        std::weak_ptr<State> weak = shared_from_this();
        auto next = [weak, gen, step](const Outcome& out) {
            auto s = weak.lock();
            if (!s) return;
            Actions acts;
            {
                std::lock_guard<std::mutex> lock(s->m);
                if (gen != s->generation || s->phase != Phase::Restoring) return;
                if (!out.ok) {
                    s->restore_failed_locked(out, acts);
                } else {
                    if (step == 0 && out.result.is_object()) {
                        s->scopes.clear();
                        for (const auto& sc : out.result["scopes"].as_array()) s->scopes.push_back(sc.as_string());
                    }
                    s->restore_locked(gen, step + 1, acts);
                }
            }
            run(acts);
        };
        if (step == 0) {
            if (!o.api_key.empty()) {
                request_locked(next_id++, "session.authenticate", Json::object({{"token", o.api_key}}), next,
                               o.request_timeout, true, actions);
                return;
            }
            step = 1;
        }
        if (step == 1) {
            if (!active.empty()) {
                request_locked(next_id++, "persona.switch", Json::object({{"persona_id", active}}), next,
                               o.request_timeout, true, actions);
                return;
            }
            step = 2;
        }
        if (step == 2) {
            auto topics = topics_locked();
            if (!topics.empty()) {
                JsonArray list(topics.begin(), topics.end());
                request_locked(next_id++, "events.subscribe", Json::object({{"topics", Json(list)}}), next,
                               o.request_timeout, true, actions);
                return;
            }
        }
        // ready
        phase = Phase::Ready;
        attempt = 0;
        ++connects;
        bool first = !ever_ready;
        ever_ready = true;
        auto queued = std::move(waiting);
        waiting.clear();
        for (auto id : queued) {
            auto it = pending.find(id);
            if (it == pending.end()) continue;
            if (!transmit_locked(id, it->second)) {
                auto cb = std::move(it->second.done);
                pending.erase(it);
                actions.push_back([cb] { cb(failure_of(ConnectionLost("not connected"))); });
            }
        }
        if (first && initial_done) {
            auto done = std::move(initial_done);
            initial_done = nullptr;
            actions.push_back([done] {
                Outcome ok;
                ok.ok = true;
                done(ok);
            });
        }
    }

    void restore_failed_locked(const Outcome& out, Actions& actions) {
        bool refused = out.code != 0;  // the server answered with an error: retrying will not help
        if (refused || !ever_ready) {
            if (ever_ready) log("could not restore the session after reconnecting: " + out.message());
            close_locked(out.error, actions);
            if (initial_done) {
                auto done = std::move(initial_done);
                initial_done = nullptr;
                actions.push_back([done, out] { done(out); });
            }
            return;
        }
        // a timeout or a lost socket: try again
        Transport* t = transport.get();
        if (t) actions.push_back([t] { t->close(); });
    }

    void fail_sent_locked(std::exception_ptr error, Actions& actions) {
        for (auto it = pending.begin(); it != pending.end();) {
            if (it->second.sent) {
                auto cb = std::move(it->second.done);
                it = pending.erase(it);
                actions.push_back([cb, error] { cb(failure(error)); });
            } else {
                ++it;
            }
        }
    }

    void close_locked(std::exception_ptr error, Actions& actions) {
        phase = Phase::Closed;
        ++generation;
        auto all = std::move(pending);
        pending.clear();
        waiting.clear();
        for (auto& kv : all) {
            auto cb = std::move(kv.second.done);
            actions.push_back([cb, error] { cb(failure(error)); });
        }
        if (transport) {
            Transport* t = transport.get();
            actions.push_back([t] { t->close(); });
        }
        cv.notify_all();
    }

    void on_close(std::uint64_t gen, const std::string& reason) {
        Actions actions;
        {
            std::lock_guard<std::mutex> lock(m);
            if (gen != generation) return;
            bool was_connecting = phase == Phase::Connecting;
            fail_sent_locked(std::make_exception_ptr(ConnectionLost("the connection closed: " + reason)), actions);
            if (!ever_ready) {  // the first connect failed: report it, do not retry
                close_locked(std::make_exception_ptr(ConnectionLost("could not connect to " + url + ": " + reason)), actions);
                if (initial_done) {
                    auto done = std::move(initial_done);
                    initial_done = nullptr;
                    auto err = std::make_exception_ptr(ConnectionLost("could not connect to " + url + ": " + reason));
                    actions.push_back([done, err] { done(failure(err)); });
                }
            } else if (phase == Phase::Closed || !o.reconnect) {
                close_locked(std::make_exception_ptr(ClientClosed()), actions);
            } else {
                phase = Phase::Idle;
                ++generation;
                auto delay = backoff_delay(attempt++, o.backoff_initial, o.backoff_max, rng);
                reconnect_at = Clock::now() + delay;
                if (!was_connecting) log("connection closed (" + reason + "); reconnecting");
                cv.notify_all();
            }
        }
        run(actions);
    }

    void on_message(std::uint64_t gen, const std::string& data, bool binary) {
        if (binary) {
            log("ignoring a binary frame from the server (" + std::to_string(data.size()) + " bytes)");
            return;
        }
        Json message;
        try {
            message = Json::parse(data);
        } catch (const JsonError&) {
            log("ignoring a frame that is not JSON: " + data.substr(0, 80));
            return;
        }
        Actions actions;
        {
            std::lock_guard<std::mutex> lock(m);
            if (gen != generation) return;
            if (message.is_array()) {
                for (const auto& item : message.as_array()) dispatch_locked(item, actions);
            } else {
                dispatch_locked(message, actions);
            }
        }
        for (auto& a : actions) {
            try {
                a();
            } catch (const std::exception& e) {
                log(std::string("a callback failed: ") + e.what());
            }
        }
    }

    void dispatch_locked(const Json& m, Actions& actions) {
        if (!m.is_object()) {
            log("ignoring a JSON value that is not a message: " + m.dump().substr(0, 80));
            return;
        }
        if (const Json* method = m.find("method")) {
            if (!m.contains("id")) notification_locked(method->as_string(), m["params"], actions);
            else log("ignoring a request from the server");
            return;
        }
        bool has_result = m.contains("result"), has_error = m.contains("error");
        if (has_result == has_error) {
            log("ignoring a response with neither or both result/error");
            return;
        }
        const Json& id = m["id"];
        auto it = id.is_int() ? pending.find(id.as_int()) : pending.end();
        if (it == pending.end()) {
            log("ignoring a response for an unknown id: " + id.dump());
            return;
        }
        auto cb = std::move(it->second.done);
        pending.erase(it);
        if (has_error) {
            const Json& e = m["error"];
            int code = static_cast<int>(e["code"].as_int());
            auto err = std::make_exception_ptr(RpcError(code, e["message"].is_string() ? e["message"].as_string() : "error", e["data"]));
            actions.push_back([cb, err, code] { cb(failure(err, code)); });
        } else {
            Outcome out;
            out.ok = true;
            out.result = m["result"];
            actions.push_back([cb, out] { cb(out); });
        }
    }

    void notification_locked(const std::string& method, const Json& params, Actions& actions) {
        if (method == "conversation.chunk") {
            auto it = streams.find(params["request_id"].as_int(-1));
            if (it == streams.end()) return;
            const Json& index = params["index"];
            const Json& delta = params["delta"];
            if (!index.is_int() || !delta.is_string()) {
                log("ignoring a malformed conversation.chunk");
                return;
            }
            auto& buf = it->second;
            if (!buf.pieces.emplace(index.as_int(), delta.as_string()).second) return;
            if (buf.on_delta) {
                auto handler = buf.on_delta;
                std::string d = delta.as_string();
                std::int64_t i = index.as_int();
                actions.push_back([handler, d, i] { handler(d, i); });
            }
            return;
        }
        if (method == "event") {
            Event ev{params["topic"].as_string(), params["type"].as_string(), params["at"].as_string(), params["data"]};
            for (const auto& kv : subs) {
                const auto& sub = kv.second;
                bool match = std::any_of(sub.topics.begin(), sub.topics.end(),
                                         [&](const std::string& t) { return topic_matches(t, ev); });
                if (match) {
                    auto handler = sub.handler;
                    actions.push_back([handler, ev] { handler(ev); });
                }
            }
            return;
        }
        for (const auto& h : note_handlers) {
            auto handler = h;
            actions.push_back([handler, method, params] { handler(method, params); });
        }
    }

    // The timer thread: request timeouts, the connect timeout, reconnect delays.
    void timer_loop() {
        std::unique_lock<std::mutex> lock(m);
        while (!stop) {
            auto next = std::min(reconnect_at, connect_deadline);
            for (const auto& kv : pending) next = std::min(next, kv.second.deadline);
            if (next == Clock::time_point::max()) cv.wait(lock);
            else cv.wait_until(lock, next);
            if (stop) break;
            auto now = Clock::now();
            Actions actions;
            for (auto it = pending.begin(); it != pending.end();) {
                if (it->second.deadline <= now) {
                    auto id = it->first;
                    auto cb = std::move(it->second.done);
                    std::string method = it->second.method;
                    bool internal = it->second.internal;
                    waiting.erase(std::remove(waiting.begin(), waiting.end(), id), waiting.end());
                    it = pending.erase(it);
                    bool streaming = streams.count(id) > 0;
                    actions.push_back([cb, method] { cb(failure_of(RequestTimeout(method + ": no answer in time"))); });
                    if (streaming && phase == Phase::Ready) {  // stop the turn on the server too
                        request_locked(next_id++, "conversation.cancel", Json::object({{"request_id", id}}),
                                       [](const Outcome&) {}, std::chrono::milliseconds(5000), false, actions);
                    }
                    if (internal && phase == Phase::Restoring && transport) {
                        Transport* t = transport.get();
                        actions.push_back([t] { t->close(); });
                    }
                } else {
                    ++it;
                }
            }
            if (phase == Phase::Connecting && connect_deadline <= now) {
                connect_deadline = Clock::time_point::max();
                Transport* t = transport.get();
                if (t) actions.push_back([t] { t->close(); });  // its on_close reports the failure
            }
            if (phase == Phase::Idle && reconnect_at <= now) start_connect_locked(actions);
            auto dead = std::move(graveyard);
            graveyard.clear();
            lock.unlock();
            dead.clear();  // transports are destroyed here, never inside their own callbacks
            run(actions);
            lock.lock();
        }
    }
};

PersonaClient::PersonaClient(std::string url, TransportFactory factory, ClientOptions options)
    : s_(std::make_shared<State>()) {
    s_->url = std::move(url);
    s_->factory = std::move(factory);
    s_->o = std::move(options);
    auto* s = s_.get();
    s_->timer = std::thread([s] { s->timer_loop(); });
}

PersonaClient::~PersonaClient() { close(); }

void PersonaClient::connect(ResultCallback done) {
    Actions actions;
    {
        std::lock_guard<std::mutex> lock(s_->m);
        if (s_->phase != State::Phase::Idle || s_->ever_ready) {
            actions.push_back([done] { done(failure_of(PersonaMCPError("connect() was already called"))); });
        } else {
            s_->initial_done = std::move(done);
            s_->start_connect_locked(actions);
        }
    }
    State::run(actions);
}

void PersonaClient::connect_sync() {
    auto promise = std::make_shared<std::promise<void>>();
    auto future = promise->get_future();
    connect([promise](const Outcome& out) {
        if (out.ok) promise->set_value();
        else promise->set_exception(out.error);
    });
    future.get();
}

void PersonaClient::close() {
    std::unique_ptr<Transport> transport;
    std::vector<std::unique_ptr<Transport>> dead;
    Actions actions;
    {
        std::lock_guard<std::mutex> lock(s_->m);
        if (s_->stop) return;
        if (s_->phase != State::Phase::Closed) s_->close_locked(std::make_exception_ptr(ClientClosed()), actions);
        if (s_->initial_done) {
            auto done = std::move(s_->initial_done);
            s_->initial_done = nullptr;
            actions.push_back([done] { done(failure_of(ClientClosed())); });
        }
        s_->stop = true;
        transport = std::move(s_->transport);
        dead = std::move(s_->graveyard);
        s_->cv.notify_all();
    }
    // the close_locked actions hold a raw pointer to the transport: run them before it goes
    State::run(actions);
    if (s_->timer.joinable()) {
        if (s_->timer.get_id() == std::this_thread::get_id()) s_->timer.detach();
        else s_->timer.join();
    }
    transport.reset();
    dead.clear();
}

bool PersonaClient::connected() const {
    std::lock_guard<std::mutex> lock(s_->m);
    return s_->phase == State::Phase::Ready;
}
int PersonaClient::connects() const {
    std::lock_guard<std::mutex> lock(s_->m);
    return s_->connects;
}
std::vector<std::string> PersonaClient::scopes() const {
    std::lock_guard<std::mutex> lock(s_->m);
    return s_->scopes;
}
std::string PersonaClient::active_persona() const {
    std::lock_guard<std::mutex> lock(s_->m);
    return s_->active;
}

std::int64_t PersonaClient::call(const std::string& method, Json params, ResultCallback done,
                                 std::chrono::milliseconds timeout) {
    Actions actions;
    std::int64_t id;
    {
        std::lock_guard<std::mutex> lock(s_->m);
        id = s_->next_id++;
        s_->request_locked(id, method, std::move(params), std::move(done), timeout, false, actions);
    }
    State::run(actions);
    return id;
}

namespace {
std::pair<ResultCallback, std::future<Json>> promised() {
    auto promise = std::make_shared<std::promise<Json>>();
    auto future = promise->get_future();
    ResultCallback cb = [promise](const Outcome& out) {
        if (out.ok) promise->set_value(out.result);
        else promise->set_exception(out.error);
    };
    return {cb, std::move(future)};
}
}  // namespace

std::future<Json> PersonaClient::call(const std::string& method, Json params, std::chrono::milliseconds timeout) {
    auto p = promised();
    call(method, std::move(params), p.first, timeout);
    return std::move(p.second);
}

std::future<Json> PersonaClient::switch_persona(const std::string& persona) {
    auto promise = std::make_shared<std::promise<Json>>();
    auto future = promise->get_future();
    std::weak_ptr<State> weak = s_;
    call("persona.switch", Json::object({{"persona_id", persona}}), [promise, weak, persona](const Outcome& out) {
        if (out.ok) {
            if (auto s = weak.lock()) {
                std::lock_guard<std::mutex> lock(s->m);
                s->active = persona;
            }
            promise->set_value(out.result);
        } else {
            promise->set_exception(out.error);
        }
    });
    return future;
}

std::future<Json> PersonaClient::send(const std::string& content, Json options) {
    Json params = options.is_object() ? options : Json::object();
    params.set("content", content);
    return call("conversation.send_message", std::move(params));
}

std::int64_t PersonaClient::stream(const std::string& content, Json options, DeltaHandler on_delta,
                                   ResultCallback done, std::chrono::milliseconds timeout) {
    Json params = options.is_object() ? options : Json::object();
    params.set("content", content);
    params.set("stream", true);
    Actions actions;
    std::int64_t id;
    {
        std::lock_guard<std::mutex> lock(s_->m);
        id = s_->next_id++;
        s_->streams[id].on_delta = std::move(on_delta);
        std::weak_ptr<State> weak = s_;
        auto wrapped = [weak, id, done](const Outcome& out) {
            if (auto s = weak.lock()) {
                std::lock_guard<std::mutex> lock(s->m);
                s->streams.erase(id);
            }
            done(out);
        };
        s_->request_locked(id, "conversation.send_message", std::move(params), wrapped, timeout, false, actions);
    }
    State::run(actions);
    return id;
}

std::string PersonaClient::stream_text(std::int64_t request_id) const {
    std::lock_guard<std::mutex> lock(s_->m);
    std::string text;
    auto it = s_->streams.find(request_id);
    if (it != s_->streams.end())
        for (const auto& kv : it->second.pieces) text += kv.second;
    return text;
}

std::future<bool> PersonaClient::cancel(std::int64_t request_id) {
    auto promise = std::make_shared<std::promise<bool>>();
    auto future = promise->get_future();
    call("conversation.cancel", Json::object({{"request_id", request_id}}), [promise](const Outcome& out) {
        if (out.ok) promise->set_value(out.result["cancelled"].as_bool());
        else promise->set_exception(out.error);
    });
    return future;
}

std::pair<int, std::future<Json>> PersonaClient::subscribe(std::vector<std::string> topics, EventHandler handler) {
    int sub;
    {
        std::lock_guard<std::mutex> lock(s_->m);
        sub = s_->next_sub++;
        s_->subs[sub] = State::Sub{topics, std::move(handler)};
    }
    JsonArray list(topics.begin(), topics.end());
    return {sub, call("events.subscribe", Json::object({{"topics", Json(list)}}))};
}

std::future<Json> PersonaClient::unsubscribe(int subscription) {
    JsonArray gone;
    {
        std::lock_guard<std::mutex> lock(s_->m);
        auto it = s_->subs.find(subscription);
        if (it != s_->subs.end()) {
            auto topics = it->second.topics;
            s_->subs.erase(it);
            auto still = s_->topics_locked();
            for (const auto& t : topics)
                if (std::find(still.begin(), still.end(), t) == still.end()) gone.push_back(t);
        }
    }
    if (gone.empty()) {
        std::promise<Json> p;
        p.set_value(Json::object({{"unsubscribed", Json(JsonArray{})}}));
        return p.get_future();
    }
    return call("events.unsubscribe", Json::object({{"topics", Json(gone)}}));
}

void PersonaClient::on_notification(std::function<void(const std::string&, const Json&)> handler) {
    std::lock_guard<std::mutex> lock(s_->m);
    s_->note_handlers.push_back(std::move(handler));
}

std::future<Json> PersonaClient::persona_update(const std::string& id, Json fields) {
    Json p = fields.is_object() ? fields : Json::object();
    p.set("persona_id", id);
    return call("persona.update", std::move(p));
}

std::future<Json> PersonaClient::world_event(const std::string& type, const std::string& description, Json options) {
    Json p = Json::object({{"type", type}, {"description", description}});
    for (const auto& kv : options.as_object()) p.set(kv.first, kv.second);
    return call("world.event", std::move(p));
}

std::future<Json> PersonaClient::scene_move(const std::string& room_id, const std::string& entity_id, double x, double y, double z) {
    return call("scene.move", Json::object({{"room_id", room_id}, {"entity_id", entity_id},
                                            {"position", Json::object({{"x", x}, {"y", y}, {"z", z}})}}));
}

std::future<Json> PersonaClient::trigger_create(const std::string& persona_id, const std::string& name, Json when, Json then, bool once) {
    Json p = Json::object({{"persona_id", persona_id}, {"name", name}, {"when", std::move(when)}, {"then", std::move(then)}});
    if (once) p.set("once", true);
    return call("trigger.create", std::move(p));
}

std::future<Json> PersonaClient::trigger_list(const std::string& persona_id) {
    Json p = Json::object();
    if (!persona_id.empty()) p.set("persona_id", persona_id);
    return call("trigger.list", std::move(p));
}

std::future<Json> PersonaClient::lorebook_list(const std::string& persona_id, const std::string& room_id) {
    Json p = Json::object();
    if (!persona_id.empty()) p.set("persona_id", persona_id);
    if (!room_id.empty()) p.set("room_id", room_id);
    return call("lorebook.list", std::move(p));
}

std::future<Json> PersonaClient::lorebook_create(const std::string& name, Json entries, Json options) {
    Json p = Json::object({{"name", name}, {"entries", std::move(entries)}});
    for (const auto& kv : options.as_object()) p.set(kv.first, kv.second);
    return call("lorebook.create", std::move(p));
}

namespace {
Json lorebook_target(const std::string& id, const std::string& persona_id, const std::string& room_id) {
    Json p = Json::object({{"lorebook_id", id}});
    if (!persona_id.empty()) p.set("persona_id", persona_id);
    if (!room_id.empty()) p.set("room_id", room_id);
    return p;
}
}  // namespace

std::future<Json> PersonaClient::lorebook_attach(const std::string& id, const std::string& persona_id, const std::string& room_id) {
    return call("lorebook.attach", lorebook_target(id, persona_id, room_id));
}
std::future<Json> PersonaClient::lorebook_detach(const std::string& id, const std::string& persona_id, const std::string& room_id) {
    return call("lorebook.detach", lorebook_target(id, persona_id, room_id));
}
std::future<Json> PersonaClient::lorebook_export(const std::string& id, const std::string& format) {
    Json p = Json::object({{"lorebook_id", id}});
    if (!format.empty()) p.set("format", format);
    return call("lorebook.export", std::move(p));
}

}  // namespace personamcp
