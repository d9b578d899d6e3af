#pragma once
// Internal to src/http: the server hands an upgrade request it accepted to run_websocket. Only
// server.cpp and websocket_session.cpp include this (it brings Beast in).
#include "http/websocket.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <functional>
#include <memory>

namespace aas::http::detail {

// Completes the opening handshake on `stream` and serves the WebSocket until it closes: one
// reader (the returned coroutine, which calls the handler) and one writer (the send queue). Must
// run on the stream's strand. Not a coroutine itself: an idle connection holds the reader's frame
// and nothing else of this call. `set_going_away` receives, on that strand, what a server shutdown calls
// (on the strand too) to close the connection with 1001 after what is queued.
boost::asio::awaitable<void> run_websocket(
    boost::beast::tcp_stream stream, boost::beast::http::request<boost::beast::http::string_body> request,
    std::shared_ptr<WebSocketHandler> handler, const WebSocketOptions& options,
    std::function<void(std::function<void()> going_away)> set_going_away);

}  // namespace aas::http::detail
