// The receiving side of the realtime benchmark's fan-out (bench/realtime/load.mjs fanout
// --receiver native): N raw WebSocket connections to the service's Socket.IO endpoint, all of ONE
// user, read by a few epoll threads, each frame timestamped with CLOCK_MONOTONIC as soon as read()
// returns it.
//
// Why not socket.io-client: a node process decodes every frame on one thread (WebSocket, Engine.IO
// and Socket.IO parsing, an event emitter), so 1,000 deliveries take it tens of ms, and with two
// cores shared by the service and the receivers the tail of the measured spread was the node
// receivers' (docs/benchmarks.md, session 8). Here a delivery costs one read() and a memcmp.
//
// What it does speak: RFC 6455 client frames (masked), Engine.IO 4 over WebSocket only (the open
// packet, ping -> pong) and Socket.IO 5's CONNECT with {"token": ...} to the main namespace. It
// checks nothing else of the protocol: the official suites and socket.io-client do that in the tests.
//
//   bench_fanout_recv --port P --token JWT --sockets N [--threads T] [--host 127.0.0.1]
//                     [--path /api/ai/socket.io] [--event ai-message]
//
// A line protocol on stdin/stdout, for the sender (load.mjs), whose process.hrtime is the same
// CLOCK_MONOTONIC:
//   -> "ready N"                once every socket is connected and in its namespace
//   <- "arm E"   -> "armed E"   the next `event` on each socket belongs to event E
//   -> "done E t1 ... tN"       once every socket received it: the times in ms (monotonic)
//   <- "quit"                   closes the sockets and exits
// Errors go to stderr with exit status 1.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "bench_fanout_recv: %s%s%s\n", what.c_str(), errno ? ": " : "", errno ? std::strerror(errno) : "");
  std::exit(1);
}

double now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

struct Args {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/api/ai/socket.io";
  std::string token;
  std::string event = "ai-message";
  int sockets = 1000;
  int threads = 1;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--host") a.host = v;
    else if (k == "--port") a.port = std::atoi(v);
    else if (k == "--path") a.path = v;
    else if (k == "--token") a.token = v;
    else if (k == "--event") a.event = v;
    else if (k == "--sockets") a.sockets = std::atoi(v);
    else if (k == "--threads") a.threads = std::atoi(v);
    else die("unknown option " + std::string(k));
  }
  errno = 0;
  if (a.port <= 0 || a.token.empty() || a.sockets <= 0 || a.threads <= 0)
    die("usage: bench_fanout_recv --port P --token JWT --sockets N [--threads T] [--host H] [--path P] [--event E]");
  return a;
}

// One client frame (masked, as RFC 6455 requires of clients), written whole.
void send_frame(int fd, std::uint8_t opcode, std::string_view payload, std::mt19937& rng) {
  std::string f;
  f.push_back(static_cast<char>(0x80 | opcode));
  const std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  }
  const std::uint32_t key = rng();
  char mask[4];
  std::memcpy(mask, &key, 4);
  f.append(mask, 4);
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  std::size_t off = 0;
  while (off < f.size()) {
    const ssize_t w = ::send(fd, f.data() + off, f.size() - off, MSG_NOSIGNAL);
    if (w < 0 && (errno == EINTR || errno == EAGAIN)) continue;  // tiny frames: the socket is never full for long
    if (w <= 0) die("send");
    off += static_cast<std::size_t>(w);
  }
}

// A server frame taken off the front of `buf`: false when it is not whole yet.
struct Frame {
  std::uint8_t opcode = 0;
  std::string_view payload;
  std::size_t size = 0;
};
bool next_frame(std::string_view buf, Frame& f) {
  if (buf.size() < 2) return false;
  const auto b0 = static_cast<std::uint8_t>(buf[0]), b1 = static_cast<std::uint8_t>(buf[1]);
  std::size_t head = 2;
  std::uint64_t len = b1 & 0x7f;
  if (len == 126) {
    if (buf.size() < 4) return false;
    len = (static_cast<std::uint64_t>(static_cast<std::uint8_t>(buf[2])) << 8) | static_cast<std::uint8_t>(buf[3]);
    head = 4;
  } else if (len == 127) {
    if (buf.size() < 10) return false;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(buf[2 + i]);
    head = 10;
  }
  if (b1 & 0x80) die("the server sent a masked frame");
  if (buf.size() < head + len) return false;
  f.opcode = b0 & 0x0f;
  f.payload = buf.substr(head, len);
  f.size = head + len;
  return true;
}

struct Shared {
  std::string prefix;  // 42["<event>"
  int sockets = 0;
  std::vector<double> times;
  std::atomic<int> armed_event{-1};
  std::atomic<int> received{0};
  std::mutex out_mu;
};

struct Conn {
  int fd = -1;
  int index = 0;
  std::string in;
  int seen_event = -1;  // the last armed event this socket counted
};

// Handles the frames in c.in; `t` is when their bytes were read. True once the Socket.IO CONNECT
// was acknowledged (`40`), for the handshake.
bool consume(Conn& c, double t, Shared& sh, std::mt19937& rng) {
  bool connected = false;
  std::size_t off = 0;
  Frame f;
  while (next_frame(std::string_view(c.in).substr(off), f)) {
    off += f.size;
    if (f.opcode == 0x9) {
      send_frame(c.fd, 0xA, f.payload, rng);
    } else if (f.opcode == 0x8) {
      errno = 0;
      die("the service closed socket " + std::to_string(c.index));
    } else if (f.opcode == 0x1) {
      const std::string_view p = f.payload;
      if (p == "2") {
        send_frame(c.fd, 0x1, "3", rng);  // Engine.IO ping -> pong
      } else if (p.substr(0, 2) == "40") {
        connected = true;
      } else if (p.substr(0, 2) == "44") {
        errno = 0;
        die("connect_error: " + std::string(p));
      } else if (p.substr(0, sh.prefix.size()) == sh.prefix) {
        const int e = sh.armed_event.load(std::memory_order_acquire);
        if (e >= 0 && c.seen_event != e) {
          c.seen_event = e;
          sh.times[static_cast<std::size_t>(c.index)] = t;
          if (sh.received.fetch_add(1, std::memory_order_acq_rel) + 1 == sh.sockets) {
            std::string line = "done " + std::to_string(e);
            char num[32];
            for (double x : sh.times) {
              std::snprintf(num, sizeof num, " %.3f", x);
              line += num;
            }
            line += '\n';
            std::lock_guard lock(sh.out_mu);
            std::fwrite(line.data(), 1, line.size(), stdout);
            std::fflush(stdout);
          }
        }
      }
    }
  }
  c.in.erase(0, off);
  return connected;
}

// Blocking read into c.in; the time of the read.
double read_some(Conn& c) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return -1;
    if (n <= 0) {
      if (n == 0) errno = 0;
      die("socket " + std::to_string(c.index) + " ended");
    }
    const double t = now_ms();
    c.in.append(buf, static_cast<std::size_t>(n));
    return t;
  }
}

// TCP connect, the WebSocket upgrade, Engine.IO's open packet, Socket.IO's CONNECT with the token.
void open_socket(Conn& c, const Args& a, const sockaddr_in& addr, Shared& sh, std::mt19937& rng) {
  c.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (c.fd < 0) die("socket");
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) die("connect");
  const int one = 1;
  ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string req = "GET " + a.path + "/?EIO=4&transport=websocket HTTP/1.1\r\nHost: " + a.host + ":" +
                          std::to_string(a.port) +
                          "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
                          "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(c.fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) die("send upgrade");
  std::size_t end;
  while ((end = c.in.find("\r\n\r\n")) == std::string::npos) read_some(c);
  if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
    errno = 0;
    die("upgrade refused: " + c.in.substr(0, c.in.find("\r\n")));
  }
  c.in.erase(0, end + 4);
  // Engine.IO's open packet ("0{...}") comes first; then the namespace's CONNECT and its answer.
  Frame f;
  while (!next_frame(c.in, f)) read_some(c);
  if (f.opcode != 0x1 || f.payload.empty() || f.payload[0] != '0') {
    errno = 0;
    die("no Engine.IO open packet");
  }
  c.in.erase(0, f.size);
  send_frame(c.fd, 0x1, "40{\"token\":\"" + a.token + "\"}", rng);
  bool connected = consume(c, 0, sh, rng);
  while (!connected) connected = consume(c, read_some(c), sh, rng);
}

void reader(std::vector<Conn>* conns, Shared* sh, unsigned seed) {
  std::mt19937 rng(seed);
  const int ep = ::epoll_create1(0);
  if (ep < 0) die("epoll_create1");
  for (Conn& c : *conns) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    if (::epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &ev) != 0) die("epoll_ctl");
  }
  epoll_event events[256];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("epoll_wait");
    for (int i = 0; i < n; ++i) {
      Conn& c = *static_cast<Conn*>(events[i].data.ptr);
      for (;;) {
        const double t = read_some(c);
        if (t < 0) break;
        consume(c, t, *sh, rng);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  Shared sh;
  sh.prefix = "42[\"" + a.event + "\"";
  sh.sockets = a.sockets;
  sh.times.assign(static_cast<std::size_t>(a.sockets), 0);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(a.port));
  if (::inet_pton(AF_INET, a.host.c_str(), &addr.sin_addr) != 1) die("--host must be an IPv4 address");

  // Connected one after another (blocking), then handed to the readers non-blocking.
  const int threads = std::min(a.threads, a.sockets);
  std::vector<std::vector<Conn>> groups(static_cast<std::size_t>(threads));
  for (auto& g : groups) g.reserve(static_cast<std::size_t>(a.sockets / threads + 1));
  std::mt19937 rng(12345);
  for (int i = 0; i < a.sockets; ++i) {
    Conn c;
    c.index = i;
    open_socket(c, a, addr, sh, rng);
    groups[static_cast<std::size_t>(i % threads)].push_back(std::move(c));
  }
  for (auto& g : groups)
    for (Conn& c : g)
      if (::fcntl(c.fd, F_SETFL, ::fcntl(c.fd, F_GETFL) | O_NONBLOCK) != 0) die("fcntl");
  std::vector<std::thread> readers;
  for (int t = 0; t < threads; ++t) readers.emplace_back(reader, &groups[static_cast<std::size_t>(t)], &sh, 1000u + static_cast<unsigned>(t));
  {
    std::lock_guard lock(sh.out_mu);
    std::printf("ready %d\n", a.sockets);
    std::fflush(stdout);
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.rfind("arm ", 0) == 0) {
      const int e = std::atoi(line.c_str() + 4);
      // The previous event is complete (the sender waited for its "done"): reset, then arm.
      sh.received.store(0, std::memory_order_relaxed);
      sh.armed_event.store(e, std::memory_order_release);
      std::lock_guard lock(sh.out_mu);
      std::printf("armed %d\n", e);
      std::fflush(stdout);
    } else if (line == "quit") {
      break;
    }
  }
  // The readers block in epoll_wait for good: the process ends with them.
  std::fflush(stdout);
  std::_Exit(0);
}
