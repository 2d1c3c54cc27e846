#include "command_hold_proxy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace kt {

namespace {

// Reads a decimal number ended by \r\n at buf[*pos]; false when incomplete or malformed.
bool ReadNumberLine(const std::string &buf, size_t *pos, long long *out)
{
    size_t end = buf.find("\r\n", *pos);
    if (end == std::string::npos || end == *pos)
        return false;
    char *stop = nullptr;
    std::string digits = buf.substr(*pos, end - *pos);
    *out = std::strtoll(digits.c_str(), &stop, 10);
    if (*stop != '\0')
        return false;
    *pos = end + 2;
    return true;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Writes what it can of *pending to fd; false when fd failed.
bool Flush(int fd, std::string *pending)
{
    while (!pending->empty()) {
        ssize_t n = send(fd, pending->data(), pending->size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        pending->erase(0, static_cast<size_t>(n));
    }
    return true;
}

// Reads what fd has into *out; false on EOF or error.
bool Drain(int fd, std::string *out)
{
    char chunk[65536];
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (n <= 0)
            return false;
        out->append(chunk, static_cast<size_t>(n));
    }
}

}  // namespace

size_t CountCommands(const std::string &buf)
{
    size_t pos = 0, n = 0;
    while (pos < buf.size()) {
        if (buf[pos] != '*') {  // an inline command: one line
            size_t end = buf.find("\r\n", pos);
            if (end == std::string::npos)
                return n;
            pos = end + 2;
            n++;
            continue;
        }
        size_t p = pos + 1;
        long long args = 0;
        if (!ReadNumberLine(buf, &p, &args))
            return n;
        for (long long a = 0; a < args; a++) {
            long long len = 0;
            if (p >= buf.size() || buf[p] != '$')
                return n;
            p++;
            if (!ReadNumberLine(buf, &p, &len) || len < 0)
                return n;
            if (buf.size() < p + static_cast<size_t>(len) + 2)
                return n;
            p += static_cast<size_t>(len) + 2;
        }
        pos = p;
        n++;
    }
    return n;
}

std::string CommandHoldProxy::Url(const std::string &path_and_query) const
{
    return "redis://127.0.0.1:" + std::to_string(port_) + path_and_query;
}

bool CommandHoldProxy::Start(std::string *why)
{
    listener_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (listener_ < 0 || bind(listener_, reinterpret_cast<sockaddr *>(&a), sizeof(a)) != 0 ||
        listen(listener_, 64) != 0 || getsockname(listener_, reinterpret_cast<sockaddr *>(&a), &len) != 0 ||
        pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
        *why = std::string("cannot set up the proxy: ") + std::strerror(errno);
        Stop();
        return false;
    }
    SetNonBlocking(listener_);
    port_ = ntohs(a.sin_port);
    stop_ = false;
    thread_ = std::thread([this] { Loop(); });
    return true;
}

void CommandHoldProxy::Stop()
{
    if (thread_.joinable()) {
        {
            std::lock_guard<std::mutex> lk(mu_);
            stop_ = true;
            ReleaseLocked();  // nobody waits for a hold that can no longer end
        }
        Wake();
        thread_.join();
    }
    for (Conn &c : conns_) {
        close(c.client);
        close(c.server);
    }
    conns_.clear();
    for (int *fd : {&listener_, &wake_[0], &wake_[1]})
        if (*fd >= 0) {
            close(*fd);
            *fd = -1;
        }
    port_ = 0;
}

void CommandHoldProxy::Wake()
{
    if (wake_[1] >= 0) {
        ssize_t ignored = write(wake_[1], "x", 1);
        (void)ignored;
    }
}

void CommandHoldProxy::Hold(size_t commands, int timeout_ms)
{
    {
        std::lock_guard<std::mutex> lk(mu_);
        holding_ = true;
        released_ = false;
        target_ = commands;
        peak_ = 0;
        deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    }
    Wake();  // the loop's poll now has a deadline
}

size_t CommandHoldProxy::WaitReleased()
{
    std::unique_lock<std::mutex> lk(mu_);
    cv_.wait(lk, [this] { return released_; });  // the loop lets go at the hold's deadline at the latest
    return peak_;
}

void CommandHoldProxy::ReleaseLocked()
{
    for (Conn &c : conns_) {
        c.to_server += c.held;
        c.held.clear();
    }
    holding_ = false;
    released_ = true;
    cv_.notify_all();
}

void CommandHoldProxy::Loop()
{
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
        // what to wait for: the listener, the wake pipe, and each connection's two sides
        std::vector<pollfd> fds = {{listener_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        for (Conn &c : conns_) {
            fds.push_back({c.client, static_cast<short>(POLLIN | (c.to_client.empty() ? 0 : POLLOUT)), 0});
            fds.push_back({c.server, static_cast<short>(POLLIN | (c.to_server.empty() ? 0 : POLLOUT)), 0});
        }
        int timeout = -1;
        if (holding_) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ -
                                                                              std::chrono::steady_clock::now());
            timeout = left.count() < 0 ? 0 : static_cast<int>(left.count()) + 1;
        }
        lk.unlock();
        int n = poll(fds.data(), fds.size(), timeout);
        lk.lock();
        if (stop_)
            break;
        if (n < 0 && errno != EINTR)
            break;
        if (holding_ && std::chrono::steady_clock::now() >= deadline_)
            ReleaseLocked();
        if (fds[1].revents) {
            char buf[64];
            while (read(wake_[0], buf, sizeof(buf)) > 0) {
            }
        }
        // connections: fds[2 + 2k] is the client side of the k-th, fds[3 + 2k] its server side
        size_t k = 2;
        for (Conn &c : conns_) {
            if (k + 1 >= fds.size())
                break;  // accepted after the poll
            short cl = fds[k].revents, sv = fds[k + 1].revents;
            k += 2;
            if (cl & (POLLIN | POLLHUP | POLLERR)) {
                std::string data;
                bool open = Drain(c.client, &data);
                if (holding_) {
                    c.held += data;
                    size_t count = CountCommands(c.held);
                    if (count > peak_)
                        peak_ = count;
                    if (count >= target_)
                        ReleaseLocked();
                } else {
                    c.to_server += data;
                }
                if (!open)
                    c.closed = true;
            }
            if (sv & (POLLIN | POLLHUP | POLLERR)) {
                if (!Drain(c.server, &c.to_client))
                    c.closed = true;
            }
            if (!Flush(c.server, &c.to_server) || !Flush(c.client, &c.to_client))
                c.closed = true;
        }
        for (auto it = conns_.begin(); it != conns_.end();) {
            if (it->closed) {
                Flush(it->client, &it->to_client);  // what the server said last, best effort
                close(it->client);
                close(it->server);
                it = conns_.erase(it);
            } else {
                ++it;
            }
        }
        if (fds[0].revents & POLLIN) {
            for (;;) {
                int client = accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (client < 0)
                    break;
                int server = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                sockaddr_in up{};
                up.sin_family = AF_INET;
                up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                up.sin_port = htons(static_cast<uint16_t>(upstream_port_));
                if (server < 0 || connect(server, reinterpret_cast<sockaddr *>(&up), sizeof(up)) != 0) {
                    close(client);
                    if (server >= 0)
                        close(server);
                    continue;
                }
                SetNonBlocking(server);
                Conn c;
                c.client = client;
                c.server = server;
                conns_.push_back(std::move(c));
            }
        }
    }
}

}  // namespace kt
