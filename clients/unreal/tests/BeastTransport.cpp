// A Transport on Boost.Beast (header-only, from the distribution's libboost-dev): used by the
// tests and the example to run the engine-free core against a live server outside the engine.
// One io_context thread per connection; sends are queued on it and written one at a time.

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "BeastTransport.h"

namespace personamcp {
namespace {

class BeastTransport final : public Transport {
public:
    BeastTransport() : work_(boost::asio::make_work_guard(ioc_)), resolver_(ioc_), ws_(ioc_) {}

    // Ends the connection cleanly (a close frame when open, at most a second of waiting for
    // the server's), then stops the io thread.
    ~BeastTransport() override {
        if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) {
            boost::asio::steady_timer deadline(ioc_, std::chrono::seconds(1));
            boost::asio::post(ioc_, [this, &deadline] {
                deadline.async_wait([this](boost::beast::error_code ec) {
                    if (ec) return;  // the close finished first
                    boost::beast::error_code ignored;
                    boost::beast::get_lowest_layer(ws_).socket().close(ignored);
                });
                begin_close([&deadline] { deadline.cancel(); });
            });
            work_.reset();
            thread_.join();  // returns when no operation is left
        } else {
            ioc_.stop();
            if (thread_.joinable()) thread_.detach();
        }
    }

    void connect(const std::string& url, Handlers handlers) override {
        h_ = std::move(handlers);
        // ws://host:port/path
        std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
        auto slash = rest.find('/');
        std::string hostport = rest.substr(0, slash);
        path_ = slash == std::string::npos ? "/" : rest.substr(slash);
        auto colon = hostport.rfind(':');
        host_ = hostport.substr(0, colon);
        port_ = colon == std::string::npos ? "80" : hostport.substr(colon + 1);
        thread_ = std::thread([this] { ioc_.run(); });
        boost::asio::post(ioc_, [this] {
            resolver_.async_resolve(host_, port_, [this](boost::beast::error_code ec, boost::asio::ip::tcp::resolver::results_type results) {
                if (ec) return report_close(ec.message());
                boost::beast::get_lowest_layer(ws_).async_connect(results, [this](boost::beast::error_code ec, const boost::asio::ip::tcp::endpoint&) {
                    if (ec) return report_close(ec.message());
                    ws_.set_option(boost::beast::websocket::stream_base::timeout::suggested(boost::beast::role_type::client));
                    ws_.read_message_max(32 * 1024 * 1024);
                    ws_.async_handshake(host_ + ":" + port_, path_, [this](boost::beast::error_code ec) {
                        if (ec) return report_close(ec.message());
                        open_ = true;
                        if (h_.on_open) h_.on_open();
                        read();
                    });
                });
            });
        });
    }

    bool send(const std::string& text) override {
        if (!open_) return false;
        boost::asio::post(ioc_, [this, text] {
            outbox_.push_back(text);
            if (outbox_.size() == 1) write();
        });
        return true;
    }

    void close() override {
        boost::asio::post(ioc_, [this] { begin_close(nullptr); });
    }

private:
    // On the io thread: a close frame when open; otherwise stop connecting.
    void begin_close(std::function<void()> finished) {
        if (open_ && !closing_) {
            closing_ = true;
            ws_.async_close(boost::beast::websocket::close_code::normal, [finished](boost::beast::error_code) {
                if (finished) finished();
            });
            return;
        }
        if (!open_) {
            boost::beast::error_code ignored;
            resolver_.cancel();
            boost::beast::get_lowest_layer(ws_).socket().close(ignored);
        }
        if (finished) finished();
    }

    void read() {
        ws_.async_read(buffer_, [this](boost::beast::error_code ec, std::size_t) {
            if (ec) return report_close(ec.message());
            std::string data = boost::beast::buffers_to_string(buffer_.data());
            buffer_.consume(buffer_.size());
            if (h_.on_message) h_.on_message(data, !ws_.got_text());
            read();
        });
    }

    void write() {
        ws_.text(true);
        ws_.async_write(boost::asio::buffer(outbox_.front()), [this](boost::beast::error_code ec, std::size_t) {
            outbox_.pop_front();
            if (ec) {
                outbox_.clear();
                return;  // the read side reports the close
            }
            if (!outbox_.empty()) write();
        });
    }

    void report_close(const std::string& reason) {
        open_ = false;
        if (reported_) return;
        reported_ = true;
        if (h_.on_close) h_.on_close(reason);
    }

    boost::asio::io_context ioc_;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
    boost::asio::ip::tcp::resolver resolver_;
    boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
    boost::beast::flat_buffer buffer_;
    std::deque<std::string> outbox_;
    std::thread thread_;
    Handlers h_;
    std::string host_, port_, path_;
    std::atomic<bool> open_{false};
    bool closing_ = false;
    bool reported_ = false;
};

}  // namespace

TransportFactory beast_transport() {
    return [] { return std::unique_ptr<Transport>(new BeastTransport()); };
}

}  // namespace personamcp
