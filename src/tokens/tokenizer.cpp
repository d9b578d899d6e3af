#include "tokens/tokenizer.hpp"

#include <stdexcept>
#include <utility>

#include "tokens/bpe.hpp"
#include "tokens/split.hpp"
#include "tokens/tables.hpp"
#include "tokens/utf8.hpp"

namespace aas::tokens {

struct Tokenizer::Impl {
  Encoding encoding;
  detail::RankTable ranks;
  std::span<const detail::SpecialToken> specials;
  std::size_t (*next_piece)(std::string_view, std::size_t);

  explicit Impl(Encoding e)
      : encoding(e),
        ranks(e == Encoding::cl100k_base ? detail::cl100k_base_data : detail::o200k_base_data),
        specials(e == Encoding::cl100k_base ? detail::cl100k_base_data.specials : detail::o200k_base_data.specials),
        next_piece(e == Encoding::cl100k_base ? detail::next_piece_cl100k : detail::next_piece_o200k) {}

  // Text without special tokens (valid UTF-8): split, then BPE each piece.
  template <class Sink>
  void encode_ordinary(std::string_view text, Sink& sink) const {
    for (std::size_t pos = 0; pos < text.size();) {
      const std::size_t end = next_piece(text, pos);
      ranks.encode(text.substr(pos, end - pos), sink);
      pos = end;
    }
  }

  // The first special token at or after `from`: its position (text.size() if none) and itself.
  std::pair<std::size_t, const detail::SpecialToken*> find_special(std::string_view text, std::size_t from) const {
    // Every special token of these encodings starts with "<|" and none is a prefix of another, so
    // the leftmost occurrence is the one tiktoken's alternation of specials finds.
    for (std::size_t at = text.find("<|", from); at != std::string_view::npos; at = text.find("<|", at + 1)) {
      for (const auto& special : specials) {
        if (text.substr(at).starts_with(special.text)) return {at, &special};
      }
    }
    return {text.size(), nullptr};
  }

  template <class Sink>
  void encode_valid(std::string_view text, bool allow_special, Sink& sink) const {
    if (!allow_special) return encode_ordinary(text, sink);
    // As tiktoken: the text between special tokens is split on its own, so a piece never runs
    // into a special token (and \s+(?!\S) sees the segment's end there).
    for (std::size_t pos = 0;;) {
      const auto [at, special] = find_special(text, pos);
      encode_ordinary(text.substr(pos, at - pos), sink);
      if (special == nullptr) return;
      sink(special->id);
      pos = at + special->text.size();
    }
  }

  template <class Sink>
  void encode(std::string_view text, bool allow_special, Sink& sink) const {
    if (detail::is_valid_utf8(text)) return encode_valid(text, allow_special, sink);
    const std::string replaced = detail::replace_invalid_utf8(text);
    encode_valid(replaced, allow_special, sink);
  }
};

std::string_view name(Encoding encoding) {
  return encoding == Encoding::cl100k_base ? "cl100k_base" : "o200k_base";
}

Tokenizer::Tokenizer(Encoding encoding) : impl_(std::make_unique<const Impl>(encoding)) {}
Tokenizer::~Tokenizer() = default;

Encoding Tokenizer::encoding() const { return impl_->encoding; }

std::vector<std::uint32_t> Tokenizer::encode(std::string_view text, bool allow_special) const {
  std::vector<std::uint32_t> ids;
  ids.reserve(text.size() / 4 + 8);  // about 4 bytes per token in English
  auto sink = [&ids](std::uint32_t id) { ids.push_back(id); };
  impl_->encode(text, allow_special, sink);
  return ids;
}

std::size_t Tokenizer::count(std::string_view text, bool allow_special) const {
  std::size_t n = 0;
  auto sink = [&n](std::uint32_t) { ++n; };
  impl_->encode(text, allow_special, sink);
  return n;
}

std::string Tokenizer::decode(std::span<const std::uint32_t> ids) const {
  std::string text;
  for (const std::uint32_t id : ids) {
    if (id < impl_->ranks.size()) {
      text += impl_->ranks.token(id);
      continue;
    }
    bool found = false;
    for (const auto& special : impl_->specials) {
      if (special.id == id) {
        text += special.text;
        found = true;
        break;
      }
    }
    if (!found) {
      throw std::out_of_range("tokens: id " + std::to_string(id) + " is not in " + std::string(name(impl_->encoding)));
    }
  }
  return text;
}

const Tokenizer& tokenizer(Encoding encoding) {
  // Function-local statics: built on first use, once, safely under concurrent first calls.
  if (encoding == Encoding::cl100k_base) {
    static const Tokenizer cl100k{Encoding::cl100k_base};
    return cl100k;
  }
  static const Tokenizer o200k{Encoding::o200k_base};
  return o200k;
}

std::optional<Encoding> encoding_for_model(std::string_view model) {
  // A fine-tuned model ("ft:gpt-4o-mini-2024-07-18:org::id") uses its base model's encoding.
  if (model.starts_with("ft:")) model.remove_prefix(3);
  // Prefixes, most specific first ("gpt-4o" before "gpt-4"); the same assignments as tiktoken's
  // model table (node_modules/tiktoken/model_to_encoding.json, checked by the unit tests).
  static constexpr std::pair<std::string_view, Encoding> prefixes[] = {
      {"gpt-4o", Encoding::o200k_base},
      {"gpt-4.1", Encoding::o200k_base},
      {"gpt-4.5", Encoding::o200k_base},
      {"chatgpt-4o", Encoding::o200k_base},
      {"gpt-5", Encoding::o200k_base},
      {"o1", Encoding::o200k_base},
      {"o3", Encoding::o200k_base},
      {"o4", Encoding::o200k_base},
      {"gpt-4", Encoding::cl100k_base},
      {"gpt-3.5", Encoding::cl100k_base},
      {"gpt-35", Encoding::cl100k_base},  // Azure's spelling
      {"text-embedding-3", Encoding::cl100k_base},
      {"text-embedding-ada-002", Encoding::cl100k_base},
      {"davinci-002", Encoding::cl100k_base},
      {"babbage-002", Encoding::cl100k_base},
  };
  for (const auto& [prefix, encoding] : prefixes) {
    if (model.starts_with(prefix)) return encoding;
  }
  return std::nullopt;
}

std::size_t count_chat(Encoding encoding, std::span<const ChatMessage> messages) {
  const Tokenizer& t = tokenizer(encoding);
  std::size_t n = 3;  // the reply is primed with <|start|>assistant<|message|>
  for (const auto& message : messages) {
    n += 3 + t.count(message.role) + t.count(message.content);
    if (message.name) n += 1 + t.count(*message.name);
  }
  return n;
}

}  // namespace aas::tokens
