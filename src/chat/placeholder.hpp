#pragma once
// The answer's placeholder: the `streaming` assistant row written before a model call (with the
// question, or after an agent step's results), carrying the prompt's estimate so that a crash
// before the answer is recorded still bills the prompt at least.
#include "domain/records.hpp"
#include "llm/models.hpp"

#include <cstdint>
#include <string>

namespace aas::chat {

domain::NewMessage answer_placeholder(const std::string& conversation_id, const llm::Model& model,
                                      std::int64_t prompt_tokens);

}  // namespace aas::chat
