#include "worker/internal/frame_codec.h"

#include "common/errors.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace magic::worker::internal {
namespace {

using nlohmann::json;

std::string Header(uint32_t size) {
  return {static_cast<char>(size >> 24), static_cast<char>((size >> 16) & 0xff),
          static_cast<char>((size >> 8) & 0xff), static_cast<char>(size & 0xff)};
}

std::optional<ErrorCode> NextError(FrameDecoder& decoder) {
  auto next = decoder.Next();
  if (!next || next->ok()) return std::nullopt;
  return ErrorCodeOf(next->status());
}

TEST(FrameCodecTest, RoundTripsAFrame) {
  absl::StatusOr<std::string> bytes = EncodeFrame({{"type", "log"}, {"msg", "héllo"}});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 4), Header(static_cast<uint32_t>(bytes->size() - 4)));
  FrameDecoder decoder;
  decoder.Append(*bytes);
  auto frame = decoder.Next();
  ASSERT_TRUE(frame.has_value() && frame->ok());
  EXPECT_EQ((**frame)["msg"], "héllo");
  EXPECT_FALSE(decoder.Next().has_value());
}

TEST(FrameCodecTest, AssemblesFramesFedByteByByte) {
  std::string stream = *EncodeFrame({{"type", "a"}}) + *EncodeFrame({{"type", "b"}});
  FrameDecoder decoder;
  std::vector<std::string> types;
  for (char c : stream) {
    decoder.Append(std::string_view(&c, 1));
    while (auto frame = decoder.Next()) {
      ASSERT_TRUE(frame->ok());
      types.push_back((**frame)["type"]);
    }
  }
  EXPECT_THAT(types, ::testing::ElementsAre("a", "b"));
}

TEST(FrameCodecTest, RejectsAnOversizedLengthBeforeBufferingIt) {
  FrameDecoder decoder(/*max_frame_bytes=*/1024);
  decoder.Append(Header(1025));
  EXPECT_EQ(NextError(decoder), ErrorCode::kE3005);
  EXPECT_EQ(decoder.buffered(), 0u);
  decoder.Append(*EncodeFrame({{"type", "a"}}));  // the failure is permanent
  EXPECT_EQ(NextError(decoder), ErrorCode::kE3005);
}

TEST(FrameCodecTest, RejectsA4GiBLength) {
  FrameDecoder decoder;
  decoder.Append("\xff\xff\xff\xff");
  EXPECT_EQ(NextError(decoder), ErrorCode::kE3005);
}

TEST(FrameCodecTest, RejectsPayloadsThatAreNotTypedObjects) {
  const std::vector<std::string> payloads = {"[1,2]",
                                             "\"x\"",
                                             "{}",
                                             "{\"type\": 3}",
                                             "{not json",
                                             "{\"type\":\"a\"} trailing",
                                             "{\"type\":\"\xff\"}"};
  for (const std::string& payload : payloads) {
    FrameDecoder decoder;
    decoder.Append(Header(static_cast<uint32_t>(payload.size())) + payload);
    EXPECT_EQ(NextError(decoder), ErrorCode::kE3005) << payload;
  }
}

TEST(FrameCodecTest, RejectsDeepNesting) {
  std::string deep = "{\"type\":\"a\",\"x\":" + std::string(200, '[') + std::string(200, ']') + "}";
  FrameDecoder decoder;
  decoder.Append(Header(static_cast<uint32_t>(deep.size())) + deep);
  EXPECT_EQ(NextError(decoder), ErrorCode::kE3005);
}

TEST(FrameCodecTest, EncodeRefusesFramesOverTheLimit) {
  absl::StatusOr<std::string> bytes = EncodeFrame({{"type", "x"}, {"pad", std::string(100, 'a')}},
                                                  /*max_bytes=*/64);
  EXPECT_EQ(ErrorCodeOf(bytes.status()), ErrorCode::kE1005);
}

TEST(FrameCodecTest, NestingDepthSkipsStrings) {
  EXPECT_EQ(JsonNestingDepth(R"({"a": "[[[[{{{{", "b": [1, {"c": "\"]]"}]})"), 3);
  EXPECT_EQ(JsonNestingDepth("1"), 0);
  EXPECT_FALSE(ParseUntrustedJson("[[[1]]]", 2).has_value());
  EXPECT_TRUE(ParseUntrustedJson("[[[1]]]", 3).has_value());
}

}  // namespace
}  // namespace magic::worker::internal
