// core/offload.hpp: the work runs on the pool, the coroutine resumes on its own executor with the
// work's value (or its exception), for value, void and move-only results.
#include "core/offload.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <thread>

namespace aas {
namespace {

namespace asio = boost::asio;

// Runs `body` as a coroutine on an io_context run by this thread; rethrows what it threw.
template <class Body>
void run_on_io(Body body) {
  asio::io_context io;
  std::exception_ptr failed;
  asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) { failed = e; });
  io.run();
  if (failed) std::rethrow_exception(failed);
}

TEST(Offload, RunsOnThePoolAndResumesOnTheCallersThread) {
  asio::thread_pool pool(2);
  const auto io_thread = std::this_thread::get_id();
  std::thread::id worked_on;
  int got = 0;
  bool resumed_here = false;
  run_on_io([&]() -> asio::awaitable<void> {
    got = co_await offload(pool, [&] {
      worked_on = std::this_thread::get_id();
      return 42;
    });
    resumed_here = std::this_thread::get_id() == io_thread;
  });
  EXPECT_EQ(got, 42);
  EXPECT_NE(worked_on, io_thread);
  EXPECT_TRUE(resumed_here);
}

TEST(Offload, VoidAndMoveOnlyResults) {
  asio::thread_pool pool(1);
  int side = 0;
  std::unique_ptr<int> owned;
  run_on_io([&]() -> asio::awaitable<void> {
    co_await offload(pool, [&] { side = 7; });
    owned = co_await offload(pool, [] { return std::make_unique<int>(9); });
  });
  EXPECT_EQ(side, 7);
  ASSERT_TRUE(owned);
  EXPECT_EQ(*owned, 9);
}

TEST(Offload, AnExceptionOfTheWorkIsRethrownInTheCoroutine) {
  asio::thread_pool pool(1);
  std::string caught;
  run_on_io([&]() -> asio::awaitable<void> {
    try {
      co_await offload(pool, []() -> int { throw std::runtime_error("disk on fire"); });
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  });
  EXPECT_EQ(caught, "disk on fire");
}

// offload_then: the work hands its result on from another thread (as the store's writer does)
// after the pool thread is free; the coroutine resumes on its own thread with it.
TEST(Offload, ThenResultHandedOnFromAnotherThreadResumesOnTheCallersThread) {
  asio::thread_pool pool(1), writer(1);
  const auto io_thread = std::this_thread::get_id();
  std::thread::id handed_on;
  int got = 0;
  bool resumed_here = false;
  run_on_io([&]() -> asio::awaitable<void> {
    auto work = [&](OffloadDone<int> done) {
      asio::post(writer, [&, done] {
        handed_on = std::this_thread::get_id();
        done(42);
      });
    };
    got = co_await offload_then<int>(pool, work);
    resumed_here = std::this_thread::get_id() == io_thread;
  });
  EXPECT_EQ(got, 42);
  EXPECT_NE(handed_on, io_thread);
  EXPECT_TRUE(resumed_here);
}

TEST(Offload, ThenWorkThatThrowsOrDropsItsDoneDoesNotHang) {
  asio::thread_pool pool(1);
  std::string thrown, dropped;
  run_on_io([&]() -> asio::awaitable<void> {
    auto throws = [](OffloadDone<int>) { throw std::runtime_error("disk on fire"); };
    try {
      co_await offload_then<int>(pool, throws);
    } catch (const std::runtime_error& e) {
      thrown = e.what();
    }
    auto drops = [](OffloadDone<int>) {};
    try {
      co_await offload_then<int>(pool, drops);
    } catch (const std::logic_error& e) {
      dropped = e.what();
    }
  });
  EXPECT_EQ(thrown, "disk on fire");
  EXPECT_NE(dropped.find("never handed on"), std::string::npos);
}

}  // namespace
}  // namespace aas
