#pragma once
// One chat turn as a pipeline: plan (validate, read the conversation, its history, model and
// prompt) -> context (ContextBuilder) -> admit (the user's limits) -> persist (the user's message,
// before the model is called) -> call (call_model) -> record (the one Recorder: the answer or the
// failure with its usage, cost and ledger row). Knows nothing of HTTP or JSON.
#include "chat/accounting.hpp"
#include "chat/model_call.hpp"
#include "chat/recorder.hpp"
#include "chat/turn_agent.hpp"
#include "chat/retriever.hpp"
#include "core/clock.hpp"
#include "core/error.hpp"
#include "llm/models.hpp"
#include "store/store.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio { class thread_pool; }
namespace aas::realtime { class EventBus; }

namespace aas::chat {

struct ChatOptions {
  std::size_t max_message_chars = 32000;  // Unicode code points
  int context_messages = 50;              // most recent messages sent to the model, at most
  // The context window assumed for a model the price table does not describe (tokens).
  std::int64_t default_context_window = 32768;
  std::string default_system_prompt = "You are a helpful AI assistant for the Todo app.";
  // The (cheap) model that writes titles and summaries; empty: the default model.
  std::string background_model;
  // Summarize earlier turns once this many not yet summarized precede a turn (0: only when they
  // no longer fit the context window); the newest half of them stay as they are.
  int summarize_after_messages = 0;
  // A streamed answer is saved as it grows (STREAM_CHECKPOINT_MS / STREAM_CHECKPOINT_TOKENS).
  std::chrono::milliseconds checkpoint_every{1000};
  std::int64_t checkpoint_every_tokens = 64;
  bool generate_titles = false;  // after the first exchange, unless the user titled it (app: GENERATE_TITLES)
  std::size_t max_image_bytes = 5 * 1024 * 1024;  // an image's decoded size (MAX_IMAGE_BYTES)
};

struct TurnInput {
  std::string user_id;
  std::vector<std::string> roles;  // the verified token's, for the limits that apply
  std::string user_name;           // the token's display name ({{user.name}} in prompts)
  std::string message;  // ignored when regenerating: the question answered is asked again
  // The message's parts when it has images (text and image parts in order; `message` holds the
  // text parts joined); empty for a plain text message.
  std::vector<llm::ContentPart> parts;
  std::optional<std::string> conversation_id;
  std::optional<std::string> model;
  std::optional<std::string> system_prompt;
  std::optional<std::string> prompt_id;  // a prompt of the library instead of an own system prompt
  std::string request_id;
  // The user's own token, for tools that call the monolith as the user (agent). Never stored or logged.
  std::string bearer_token;
  // A new version of an active message of the conversation: with `regenerate`, of an answer
  // (message is ignored: the question it answered is asked again); without, of a user message
  // (message is its new text). It and what followed leave the active branch.
  std::optional<std::string> replace_message_id;
  bool regenerate = false;
  // The knowledge bases to answer from: for this turn (and kept by a new conversation); nullopt:
  // the conversation's own.
  std::optional<std::vector<std::string>> knowledge_base_ids;
};

struct TurnResult {
  std::string conversation_id;
  std::string user_message_id;
  domain::Message assistant;  // complete, or interrupted when a stream stopped part way
  llm::Usage usage;
  std::string model;  // the model name the client asked for (or the default)
  std::string finish_reason;
  // A stream that broke after its first words: the partial answer is stored (interrupted) and
  // this says why, so the client can be told.
  std::optional<Error> interruption;
  std::vector<Citation> citations;  // the passages the model was given, numbered as it cites them
};

// A turn whose user message is stored and whose context is read: everything that can be
// refused has been checked (limits included), so a streaming response may start.
struct PreparedTurn {
  TurnInput input;
  domain::Conversation conversation;
  std::string user_message_id;
  const llm::Model* model = nullptr;
  llm::ChatRequest request;  // what the model is sent: system prompt, context, max_tokens
  int context_omitted = 0;   // earlier messages left out to fit the context window
  // The left-out turns not yet in the conversation's summary (oldest first): summarized after
  // the answer, so the next turns see them condensed.
  std::vector<domain::Message> to_summarize;
  bool first_exchange = false;  // a new conversation: its title may be generated
  std::chrono::steady_clock::time_point admitted_at{};  // when begin() started (metrics)
  limits::Grant grant;       // the call's hold on the user's limits, settled when it is recorded
  // The answer's placeholder (status `streaming`), written with the user's message in one
  // transaction, streamed or not: a crash leaves a user message only with an answer row that the
  // restart marks interrupted and bills.
  std::optional<std::string> placeholder_id;
  std::int64_t prompt_tokens = 0;  // our count of the request's prompt (the placeholder's usage)
  std::vector<Citation> citations;  // retrieved for this turn (empty without knowledge bases)
};

class ChatService {
 public:
  // `events` carries stop requests between replicas and announces every recorded answer.
  ChatService(store::Store& store, boost::asio::thread_pool& blocking, const llm::ModelRegistry& models,
              Accounting& accounting, Recorder& recorder, realtime::EventBus& events, ChatOptions options);
  ~ChatService();

  // One whole turn, answered when the model has finished.
  boost::asio::awaitable<Result<TurnResult>> send(TurnInput input);

  // A streamed turn in two steps, so that refusals (400, 404, 429) come before the response starts:
  // begin() validates and stores the user's message and a `streaming` assistant placeholder;
  // stream() calls the model, feeds the observer, and writes the outcome over the placeholder
  // (complete, interrupted with what arrived, or error), with its usage either way.
  boost::asio::awaitable<Result<PreparedTurn>> begin(TurnInput input, bool streaming);
  boost::asio::awaitable<Result<TurnResult>> stream(PreparedTurn turn, TurnObserver& observer);

  const ChatOptions& options() const { return options_; }
  // The agent that runs turns with tools (src/agent/); none: plain turns. Set before serving.
  void set_agent(TurnAgent* agent) { agent_ = agent; }
  // Retrieval from knowledge bases (set once at start-up, before turns run); without one, a turn
  // naming knowledge bases is refused.
  void set_retriever(Retriever* retriever) { retriever_ = retriever; }

  // Stops the answer streaming in one of the user's conversations, whichever replica streams it
  // (POST /api/ai/conversations/:id/stop): the stop goes out on the event bus; the stream keeps
  // what it produced, is recorded `interrupted` with finish reason "stopped", billed for what
  // was used, and its client gets the usage and done events. not_found for another user's
  // conversation; nothing streaming is not an error (the answer may just have finished).
  boost::asio::awaitable<Result<void>> stop(std::string user_id, std::string conversation_id);

  // Folds every turn not yet summarized (all but the last `keep` messages) into the
  // conversation's summary now: POST /api/ai/conversations/:id/summarize. The call is written to
  // the usage ledger as a summary call. Returns the conversation with its new summary.
  boost::asio::awaitable<Result<domain::Conversation>> summarize(std::string user_id,
                                                                std::string conversation_id,
                                                                int keep = 0);

 public:
  struct Plan;  // what plan() read for a turn (chat_service.cpp)

 private:
  // The stages of begin(), run in one trip to the blocking pool: plan reads (conversation,
  // history, the message replaced, model, system prompt), the ContextBuilder builds the request,
  // the limits admit it (prepare), and only then the turn's first writes (turn_start) are queued,
  // so a refused turn leaves nothing behind.
  Result<Plan> plan(const TurnInput& in);
  Result<store::TurnStart> prepare(TurnInput& in, PreparedTurn& turn, bool streaming);
  static store::TurnStart turn_start(const PreparedTurn& turn, const Plan& plan);

  // The turn's call recorded by the one Recorder; then titles and summaries (after_turn).
  boost::asio::awaitable<Result<TurnResult>> finish(PreparedTurn& turn, const CallResult& call);

  // After a turn's answer is stored: a title for a first exchange, a summary for turns that no
  // longer fit. Runs detached on the caller's executor, so the answer is not delayed; a failure
  // only logs (the next overflowing turn tries again).
  void after_turn(const PreparedTurn& turn, const boost::asio::any_io_executor& ex);
  boost::asio::awaitable<void> generate_title(std::string user_id, std::string conversation_id,
                                              std::string message, std::string request_id);
  // The summary of `turns` on top of `previous`, stored through the last of them.
  boost::asio::awaitable<Result<std::string>> write_summary(std::string user_id,
                                                            std::string conversation_id,
                                                            std::optional<std::string> previous,
                                                            std::vector<domain::Message> turns,
                                                            std::string request_id);
  // One non-streamed call of the background model, written to the ledger as `kind`.
  boost::asio::awaitable<Result<std::string>> background_call(const std::string& user_id,
                                                              const std::string& conversation_id,
                                                              std::string kind, std::string instruction,
                                                              std::string input, std::string request_id);

  store::Store& store_;
  boost::asio::thread_pool& blocking_;
  const llm::ModelRegistry& models_;
  Accounting& accounting_;
  Recorder& recorder_;
  realtime::EventBus& events_;
  ChatOptions options_;
  TurnAgent* agent_ = nullptr;
  Retriever* retriever_ = nullptr;
  // The streams running in this process, by conversation, for stop requests.
  struct Running;
  struct Streams;
  std::shared_ptr<Streams> streams_;  // shared with the bus's handler, which may outlive this
};

// Shared validation of free text fields (also used by the conversation service).
std::size_t count_code_points(std::string_view utf8) noexcept;
bool is_valid_utf8(std::string_view s) noexcept;
bool is_blank(std::string_view s) noexcept;
// A title from a first message: its first line, trimmed, at most 80 code points.
std::string title_from_message(std::string_view message);

}  // namespace aas::chat
