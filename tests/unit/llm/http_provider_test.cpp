// The HTTP providers' handling of what an upstream actually sends back, through OpenAiProvider and
// the real HttpClient against a loopback server that answers each request with raw bytes the test
// wrote: a compatible server answering a stream with plain JSON, a stream broken part-way or ended
// without its end marker, an error that repeats the API key, a body too large, a refused connection.
#include "llm/providers/openai.hpp"

#include "http/client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <istream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace aas::llm {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Answers each connection's request with the next of `answers` (raw HTTP/1.1 bytes), then closes it.
class RawUpstream {
 public:
  explicit RawUpstream(std::vector<std::string> answers)
      : acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}), answers_(std::move(answers)) {
    thread_ = std::thread([this] {
      for (const std::string& answer : answers_) {
        tcp::socket s(ioc_);
        boost::system::error_code ec;
        acceptor_.accept(s, ec);
        if (ec || stopping_) return;
        asio::streambuf in;
        const std::size_t head = asio::read_until(s, in, "\r\n\r\n", ec);
        if (ec) return;
        std::string headers(asio::buffers_begin(in.data()), asio::buffers_begin(in.data()) + static_cast<std::ptrdiff_t>(head));
        std::size_t length = 0;
        if (auto at = headers.find("Content-Length: "); at != std::string::npos) length = std::stoul(headers.substr(at + 16));
        if (in.size() < head + length) asio::read(s, in, asio::transfer_exactly(head + length - in.size()), ec);
        asio::write(s, asio::buffer(answer), ec);
        s.shutdown(tcp::socket::shutdown_both, ec);
      }
    });
  }
  // A test that ended before using every answer leaves the thread in accept(): one connection
  // of our own wakes it.
  ~RawUpstream() {
    stopping_ = true;
    boost::system::error_code ec;
    tcp::socket wake(ioc_);
    wake.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/v1"; }

 private:
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::string> answers_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

std::string json_response(int status, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return std::string(size) + data + "\r\n";
}

const std::string kSseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
const std::string kDelta = R"(data: {"id":"c1","model":"gpt-x","choices":[{"index":0,"delta":{"content":"Hel"}}]})"
                           "\n\n";

ChatRequest request() {
  ChatRequest req;
  req.model = "gpt-x";
  req.messages = {{"user", "hi"}};
  return req;
}

struct Call {
  Result<Completion> result = make_error(errc::internal, "not run");
  std::vector<std::string> texts;
  std::vector<ToolCallDelta> tool_calls;
};

class HttpProviderTest : public ::testing::Test {
 protected:
  OpenAiProvider provider(const std::string& url, std::vector<std::string> keys = {}) {
    OpenAiProvider::Options o;
    o.base_url = url;
    o.api_keys = std::move(keys);
    return OpenAiProvider(client_, o);
  }
  template <class Op>
  auto run(Op op) {
    auto f = asio::co_spawn(ioc_, std::move(op), asio::use_future);
    ioc_.restart();
    ioc_.run();
    return f.get();
  }
  // A streamed call whose sink keeps what arrives (and asks to stop once `stop_after` deltas came).
  Call stream(OpenAiProvider& p, int stop_after = 1000) {
    Call call;
    const ChunkSink sink = [&](const StreamDelta& d) {
      if (d.tool_call) call.tool_calls.push_back(*d.tool_call);
      else call.texts.emplace_back(d.text);
      return static_cast<int>(call.texts.size() + call.tool_calls.size()) < stop_after;
    };
    const ChatRequest req = request();
    call.result = run(p.stream(req, sink));
    return call;
  }

  asio::io_context ioc_;
  http::ClientOptions options_ = [] {
    http::ClientOptions o;
    o.max_response_bytes = 4096;
    return o;
  }();
  std::shared_ptr<http::HttpClient> client_ = std::make_shared<http::HttpClient>(ioc_.get_executor(), options_);
};

TEST_F(HttpProviderTest, AJsonAnswerToAStreamedRequestReachesTheSinkWhole) {
  const std::string answer =
      R"({"id":"c1","object":"chat.completion","model":"gpt-x","choices":[{"index":0,"message":{"role":"assistant",)"
      R"("content":"Hello there"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})";
  RawUpstream up({json_response(200, answer), json_response(200, answer)});
  auto p = provider(up.url());
  const Call whole = stream(p);
  ASSERT_TRUE(whole.result) << whole.result.error().detail;
  EXPECT_EQ(whole.texts, std::vector<std::string>{"Hello there"});
  EXPECT_EQ(whole.result->content, "Hello there");
  EXPECT_EQ(whole.result->finish_reason, "stop");
  EXPECT_EQ(whole.result->usage.output_tokens, 2);

  const Call stopped = stream(p, 1);
  ASSERT_TRUE(stopped.result);
  EXPECT_EQ(stopped.result->finish_reason, "cancelled") << "the sink asked to stop";
}

TEST_F(HttpProviderTest, TheToolCallsOfAJsonAnswerGoToTheSinkOnePieceEach) {
  const std::string answer =
      R"({"id":"c1","model":"gpt-x","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[)"
      R"({"id":"t1","type":"function","function":{"name":"a","arguments":"{\"x\":1}"}},)"
      R"({"id":"t2","type":"function","function":{"name":"b","arguments":"{}"}}]},"finish_reason":"tool_calls"}]})";
  RawUpstream up({json_response(200, answer), json_response(200, answer)});
  auto p = provider(up.url());
  const Call call = stream(p);
  ASSERT_TRUE(call.result) << call.result.error().detail;
  ASSERT_EQ(call.tool_calls.size(), 2u);
  EXPECT_EQ(call.tool_calls[0].index, 0);
  EXPECT_EQ(call.tool_calls[0].id, "t1");
  EXPECT_EQ(call.tool_calls[0].name, "a");
  EXPECT_EQ(call.tool_calls[0].arguments, R"({"x":1})");
  EXPECT_EQ(call.tool_calls[1].index, 1);
  EXPECT_EQ(call.tool_calls[1].name, "b");
  EXPECT_EQ(call.result->finish_reason, "tool_calls");

  const Call stopped = stream(p, 1);
  ASSERT_TRUE(stopped.result);
  EXPECT_EQ(stopped.tool_calls.size(), 1u) << "nothing more after the sink asked to stop";
  EXPECT_EQ(stopped.result->finish_reason, "cancelled");
}

TEST_F(HttpProviderTest, AStreamCutPartWayIsTheUpstreamsFailureAndOneWithoutItsEndMarkerToo) {
  RawUpstream up({kSseHead + chunk(kDelta),                   // the connection closes mid-body
                  kSseHead + chunk(kDelta) + chunk("") });   // the body ends, but no finish reason or [DONE]
  auto p = provider(up.url());
  const Call cut = stream(p);
  ASSERT_FALSE(cut.result);
  EXPECT_EQ(cut.texts, std::vector<std::string>{"Hel"});
  EXPECT_EQ(cut.result.error().code, errc::upstream_error);
  EXPECT_EQ(cut.result.error().message, "the model provider's answer broke off");
  EXPECT_NE(cut.result.error().detail.find("(the stream broke after part of the answer was sent)"), std::string::npos)
      << cut.result.error().detail;

  const Call unfinished = stream(p);
  ASSERT_FALSE(unfinished.result);
  EXPECT_EQ(unfinished.result.error().code, errc::upstream_error);
  EXPECT_EQ(unfinished.result.error().detail, "openai: the stream ended before its end marker");
  EXPECT_EQ(unfinished.result.error().upstream_status, 200);
}

TEST_F(HttpProviderTest, AnErrorThatRepeatsTheKeyIsRedactedAndTheKeyRested) {
  const std::string key = "plainkey0123456789";
  const std::string body = R"({"error":{"message":"Incorrect API key provided: )" + key +
                           R"(","type":"invalid_request_error","code":"invalid_api_key"}})";
  RawUpstream up({json_response(401, body)});
  auto p = provider(up.url(), {key});
  const ChatRequest req = request();
  auto r = run(p.complete(req));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().upstream_status, 401);
  EXPECT_EQ(r.error().message.find(key), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().detail.find(key), std::string::npos) << r.error().detail;
  EXPECT_NE((r.error().message + r.error().detail).find("[redacted]"), std::string::npos);
  EXPECT_EQ(p.keys().available(), 0u) << "a refused key rests";
}

TEST_F(HttpProviderTest, AnAnswerTooLargeOrUnreadableIsTheUpstreamsFailure) {
  RawUpstream up({json_response(200, std::string(5000, ' ') + "{}"), json_response(200, "not json"),
                  json_response(200, "not json")});
  auto p = provider(up.url());
  const ChatRequest req = request();
  auto large = run(p.complete(req));
  ASSERT_FALSE(large);
  EXPECT_EQ(large.error().code, errc::upstream_error) << "not the caller's payload_too_large";
  EXPECT_EQ(large.error().message, "upstream response too large");
  EXPECT_EQ(large.error().detail.rfind("openai: ", 0), 0u) << large.error().detail;
  auto garbled = run(p.complete(req));
  ASSERT_FALSE(garbled);
  EXPECT_EQ(garbled.error().upstream_status, 200);
  const Call streamed = stream(p);  // the same, as the answer to a streamed request
  ASSERT_FALSE(streamed.result);
  EXPECT_EQ(streamed.result.error().upstream_status, 200);
  EXPECT_TRUE(streamed.texts.empty());
}

TEST_F(HttpProviderTest, ASinkThatStopsDuringAStreamedToolCallEndsTheCallCancelled) {
  const std::string call =
      R"(data: {"id":"c1","model":"gpt-x","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"t1",)"
      R"("type":"function","function":{"name":"a","arguments":"{}"}}]}}]})"
      "\n\n";
  RawUpstream up({kSseHead + chunk(call + call) + chunk("")});
  auto p = provider(up.url());
  const Call stopped = stream(p, 1);
  ASSERT_TRUE(stopped.result) << stopped.result.error().detail;
  EXPECT_EQ(stopped.tool_calls.size(), 1u) << "nothing after the sink asked to stop";
  EXPECT_EQ(stopped.result->finish_reason, "cancelled");
}

TEST_F(HttpProviderTest, ARefusedConnectionIsUnavailable) {
  std::string url;
  {
    RawUpstream closed({});  // its port, closed again
    url = closed.url();
  }
  auto p = provider(url);
  const Call call = stream(p);
  ASSERT_FALSE(call.result);
  EXPECT_EQ(call.result.error().code, errc::unavailable);
  EXPECT_EQ(call.result.error().detail.rfind("openai: ", 0), 0u) << call.result.error().detail;
}

}  // namespace
}  // namespace aas::llm
