// A TCP proxy in front of a Redis server that proves commands travel together (one round trip) without reading a
// clock: on Hold(n) it stops forwarding what clients send and counts the complete commands each connection has
// held back; it lets everything go once one connection has n of them. A client that waits for each reply before
// sending the next command never has more than one held, so only a client that sent n commands before reading
// any reply reaches n. The verdict is a count, which no CPU speed or load can change.
#ifndef KVORM_TESTS_COMMAND_HOLD_PROXY_H
#define KVORM_TESTS_COMMAND_HOLD_PROXY_H

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <list>
#include <mutex>
#include <string>
#include <thread>

namespace kt {

// How many complete RESP commands (arrays of bulk strings, or inline lines) buf starts with.
size_t CountCommands(const std::string &buf);

class CommandHoldProxy {
public:
    explicit CommandHoldProxy(int upstream_port) : upstream_port_(upstream_port) {}
    ~CommandHoldProxy() { Stop(); }
    CommandHoldProxy(const CommandHoldProxy &) = delete;
    CommandHoldProxy &operator=(const CommandHoldProxy &) = delete;

    // Listens on 127.0.0.1:<free port> and relays to 127.0.0.1:upstream_port in a thread of its own.
    bool Start(std::string *why);
    void Stop();
    int port() const { return port_; }
    // "redis://127.0.0.1:<port>" plus path_and_query.
    std::string Url(const std::string &path_and_query = "") const;

    // From now on, holds back what clients send until one connection has `commands` complete commands held, or
    // timeout_ms passes (that only bounds how long a failing test waits); then forwards everything held.
    void Hold(size_t commands, int timeout_ms);
    // Waits until the hold has ended; returns the most complete commands one connection had held at once.
    size_t WaitReleased();

private:
    struct Conn {
        int client = -1, server = -1;
        std::string held, to_server, to_client;
        bool closed = false;
    };
    void Loop();
    void ReleaseLocked();
    void Wake();

    int upstream_port_;
    int port_ = 0;
    int listener_ = -1;
    int wake_[2] = {-1, -1};
    std::thread thread_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool stop_ = false;
    bool holding_ = false;
    bool released_ = true;
    size_t target_ = 0;
    size_t peak_ = 0;
    std::chrono::steady_clock::time_point deadline_;
    std::list<Conn> conns_;
};

}  // namespace kt

#endif
