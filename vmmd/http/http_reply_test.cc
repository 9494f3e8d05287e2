// Replies built in one buffer: the head in front of the body, Content-Length, HEAD, a head longer
// than the room kept for it, gzip that zlib inflates back, Accept-Encoding, and the in-place
// string stream.
#include "vmmd/http/http_reply.h"

#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/scrape.h"
#include "tests/support/status_matchers.h"

namespace vmmd::http {
namespace {

using ::vmmd::testing::Gunzip;
using ::vmmd::testing::IsOk;

// Exposition-like text: many similar lines.
std::string SomeText(int lines) {
  std::string out;
  for (int i = 0; i < lines; ++i) {
    absl::StrAppend(&out, "vmmd_vcpu_busy_seconds_total{vm=\"vm-", i / 8, "\",vcpu=\"", i % 8,
                    "\"} ", i * 0.37, "\n");
  }
  return out;
}

TEST(ReplyTest, TheHeadGoesInFrontOfTheBody) {
  Reply reply;
  reply.buffer()->append("ok\n");
  EXPECT_EQ(reply.body(), "ok\n");
  EXPECT_EQ(reply.Finish(200, {{"Content-Type", "text/plain"}, {"Cache-Control", "no-store"}},
                         /*head_only=*/false),
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nCache-Control: no-store\r\n"
            "Content-Length: 3\r\n\r\nok\n");
}

TEST(ReplyTest, HeadOnlyIsTheHeadWithTheBodysLength) {
  Reply reply;
  reply.buffer()->append("not ready: shutting down\n");
  EXPECT_EQ(reply.Finish(503, {}, /*head_only=*/true),
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 25\r\n\r\n");
}

TEST(ReplyTest, AnEmptyBody) {
  Reply reply;
  EXPECT_EQ(reply.Finish(404, {}, false), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
}

TEST(ReplyTest, AHeadLongerThanItsRoomIsStillWhole) {
  Reply reply;
  reply.buffer()->append("body");
  const std::string long_value(1000, 'x');
  EXPECT_EQ(
      reply.Finish(200, {{"X-Long", long_value}}, false),
      absl::StrCat("HTTP/1.1 200 OK\r\nX-Long: ", long_value, "\r\nContent-Length: 4\r\n\r\nbody"));
  EXPECT_EQ(reply.body(), "body");
  // Finishing again (another status) still gives one whole reply.
  EXPECT_EQ(reply.Finish(200, {}, false), "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody");
}

TEST(ReplyTest, GzipInflatesBackToTheBody) {
  for (int lines : {0, 1, 20000}) {
    const std::string text = SomeText(lines);
    Reply reply(text.size());
    reply.buffer()->append(text);
    ASSERT_THAT(reply.Gzip(), IsOk());
    const std::string compressed(reply.body());
    EXPECT_EQ(compressed.substr(0, 2), "\x1f\x8b") << "gzip magic";
    EXPECT_EQ(Gunzip(compressed), text) << lines;
    if (lines == 20000) {
      EXPECT_LT(compressed.size(), text.size() / 5);
    }
    const std::string sent(reply.Finish(200, {{"Content-Encoding", "gzip"}}, false));
    EXPECT_EQ(sent, absl::StrCat("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ",
                                 compressed.size(), "\r\n\r\n", compressed));
  }
}

TEST(ReplyTest, ANewReplyReusesAnEarlierOnesMemoryAndStartsEmpty) {
  Reply first;
  first.buffer()->append(SomeText(2000));
  ASSERT_THAT(first.Gzip(), IsOk());
  (void)first.Finish(200, {}, false);
  ReplyStorage storage = first.Release();
  const size_t body_capacity = storage.body.capacity();
  const size_t spare_capacity = storage.spare.capacity();
  // Swapped by Gzip: the body is the compressed text, the spare the text.
  EXPECT_GT(body_capacity, 0u);
  EXPECT_GT(spare_capacity, 100000u);
  const char* memory = storage.body.data();

  Reply second(/*body_capacity=*/10, std::move(storage));
  EXPECT_EQ(second.body(), "");
  EXPECT_EQ(second.buffer()->data(), memory);  // no new allocation
  second.buffer()->append("ok\n");
  EXPECT_EQ(second.Finish(200, {}, false), "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n");
}

TEST(ReplyTest, ReasonPhrases) {
  EXPECT_EQ(ReasonPhrase(200), "OK");
  EXPECT_EQ(ReasonPhrase(404), "Not Found");
  EXPECT_EQ(ReasonPhrase(405), "Method Not Allowed");
  EXPECT_EQ(ReasonPhrase(503), "Service Unavailable");
}

TEST(AcceptsGzipTest, CodingsAndQualities) {
  for (const char* yes : {"gzip", "GZip", "x-gzip", "deflate, gzip", "gzip;q=0.5",
                          "deflate, gzip;q=1.0, *;q=0.5", "*", " br , gzip ; q=0.001"}) {
    EXPECT_TRUE(AcceptsGzip(yes)) << yes;
  }
  for (const char* no : {"", "identity", "deflate, br", "gzip;q=0", "gzip; q=0.000", "*;q=0",
                         "gzip;q=0, *", "gzipx", "x-gzip2"}) {
    EXPECT_FALSE(AcceptsGzip(no)) << no;
  }
}

TEST(StringAppenderTest, WritesWhatAnOstringstreamWouldAfterWhatWasThere) {
  std::string out = "prefix:";
  std::ostringstream want;
  want << "prefix:";
  {
    StringAppender sink(&out);
    std::ostream stream(&sink);
    for (int i = 0; i < 50000; ++i) {
      stream << "line " << i << ' ' << 1.5 * i << '\n';
      want << "line " << i << ' ' << 1.5 * i << '\n';
    }
    stream.write(std::string(100000, 'z').data(), 100000);  // bigger than a doubling
    want << std::string(100000, 'z');
  }
  EXPECT_EQ(out, want.str());
}

TEST(StringAppenderTest, FinishCutsTheStringAndIgnoresLaterWrites) {
  std::string out;
  StringAppender sink(&out);
  std::ostream stream(&sink);
  stream << "abc";
  sink.Finish();
  EXPECT_EQ(out, "abc");
  stream << "def";
  EXPECT_EQ(out, "abc");
  EXPECT_TRUE(stream.bad());
  sink.Finish();  // idempotent
  EXPECT_EQ(out, "abc");
}

}  // namespace
}  // namespace vmmd::http
