#pragma once
// Our own request/response types: handlers and the api layer use these, so Beast stays inside
// src/http (session.cpp) and out of every other translation unit.
#include <boost/asio/awaitable.hpp>

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aas::http {

struct Header {
  std::string name;  // lowercase
  std::string value;
};

struct Request {
  std::string method;        // "GET", "POST", ...
  std::string target;        // as sent: path + query
  std::string path;          // percent-decoded path, no query
  std::string query_string;  // raw, without '?'
  std::vector<Header> headers;
  std::string body;
  std::string remote_address;

  // Header lookup; `lower_name` must be lowercase.
  std::optional<std::string_view> header(std::string_view lower_name) const;
  // Query parameter, percent-decoded; the first occurrence wins.
  std::optional<std::string> query(std::string_view key) const;
  // The (decoded) name of the first query parameter whose name or value decodes to a NUL byte.
  // No text with NUL reaches a store: PostgreSQL cuts it there, SQLite's FTS5 fails on it.
  std::optional<std::string> query_param_with_nul() const;
};

// The writing end of a streamed response (Server-Sent Events), implemented by the server session.
// One writer per connection: only the StreamBody coroutine writes, on the connection's strand.
struct Response;

class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Sends the bytes at once (no buffering beyond the socket's). Returns false once the client
  // has gone or the write timed out; later writes then return false at once. A slow reader
  // makes this wait (bounded by the write timeout), so memory never grows with the backlog.
  virtual boost::asio::awaitable<bool> write(std::string_view bytes) = 0;
  // The same bytes without waiting, when the socket takes them now: a relayed token then costs
  // one send() and no resumption of a coroutine, timer or hand-off through the scheduler.
  //   written  all of them went out,
  //   kept     some went out and the writer holds the rest: a write() (of nothing, if need be)
  //            must follow to send it,
  //   busy     nothing was done (a write or the head is under way, or this writer cannot):
  //            queue them and write() them later, in order,
  //   closed   the client is gone.
  // Only while the stream's body runs: never after it returned (the end of the body went out).
  enum class TryWrite { written, kept, busy, closed };
  virtual TryWrite try_write(std::string_view bytes) {
    (void)bytes;
    return TryWrite::busy;
  }
  // Calls `f` once, on the connection's strand, when the client closes the connection (or a
  // write failed); at once when that happened already. One callback at a time: a new one (or an
  // empty one) replaces it, so that whoever registered it can unregister before it is destroyed.
  // A callback rather than an awaitable to race: a held stream then needs no coroutine of its
  // own to learn that its client left.
  virtual void on_closed(std::function<void()> f) = 0;
  virtual bool is_closed() const = 0;
  // Answers with `res` (a whole response: its own status, headers and body) instead of the
  // stream, while nothing of the stream has been sent; false once it is too late. For a stream
  // whose work failed before its first byte: the client gets a real status, not a 200 that breaks.
  virtual boost::asio::awaitable<bool> replace(Response res) = 0;
};

// Completes when `out` tells that its client is gone (on_closed), for code that races work
// against that with awaitable operators (a test, mock-llm); losing the race cancels it, and it
// unregisters either way. The service's own streams use on_closed directly: this is a coroutine
// more for as long as the stream lasts.
boost::asio::awaitable<void> client_gone(BodyWriter& out);

// Produces a streamed body. The status and headers of the Response go out with the body's first
// write (chunked transfer encoding, no Content-Length) unless the body replaces the response
// first. After it, an HTTP/1.1 connection the client keeps alive serves its next request (what
// the client sent during the stream is that request's start); otherwise it closes.
using StreamBody = std::function<boost::asio::awaitable<void>(BodyWriter& out)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<Header> headers;
  std::string body;
  StreamBody stream;  // when set, `body` is ignored
};

}  // namespace aas::http
