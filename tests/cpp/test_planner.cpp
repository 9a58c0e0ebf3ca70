// Host-only test of the split-KV planner (plan_on_host): for many batches it
// walks the SchedMeta records in order and checks the guarantees stated in
// scheduler.hpp against quantities computed here independently.
//
// Builds with any C++17 compiler and -Iinclude; no GPU, no CUDA runtime.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cute_mla/sched_meta.hpp"
#include "cute_mla/scheduler.hpp"

namespace {

int g_failures = 0;
int g_checks = 0;
std::string g_case;  // the case being checked, printed with each failure

#define CHECK(cond)                                                               \
  do {                                                                            \
    ++g_checks;                                                                   \
    if (!(cond)) {                                                                \
      if (++g_failures <= 50)                                                     \
        std::printf("%s:%d: CHECK(%s) failed [%s]\n", __FILE__, __LINE__, #cond,  \
                    g_case.c_str());                                              \
    }                                                                             \
  } while (0)

// Like CHECK, but also stops checking the current case (one broken invariant
// tends to cascade).
#define REQUIRE(cond)                                                             \
  do {                                                                            \
    CHECK(cond);                                                                  \
    if (!(cond)) return;                                                          \
  } while (0)

using cute_mla::SchedMeta;
using cute_mla::SchedulerConfig;

constexpr int32_t kPage = cute_mla::MlaShape::kPageSize;

// Pages a request is scheduled for: max(1, ceil(len / page)), written out
// independently of SplitPlanner::request_blocks.
int64_t sched_pages(int32_t len) {
  if (len <= 0) return 1;
  return (int64_t(len) - 1) / kPage + 1;
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

SchedulerConfig make_config(int32_t parts, int32_t overhead, int32_t min_blocks,
                            int32_t fill_blocks = 2, int32_t fill_pieces = 0) {
  SchedulerConfig c;
  c.num_parts = parts;
  c.fixed_overhead_blocks = overhead;
  c.min_blocks_per_part = min_blocks;
  c.fill_blocks_per_part = fill_blocks;
  c.fill_pieces_per_request = fill_pieces;
  c.page_size = kPage;
  return c;
}

std::string describe(std::vector<int32_t> const& lens, SchedulerConfig const& c,
                     const char* kind) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "%s: b=%zu parts=%d F=%d min_blocks=%d fill_blocks=%d fill_pieces=%d", kind,
                lens.size(), c.num_parts, c.fixed_overhead_blocks, c.min_blocks_per_part,
                c.fill_blocks_per_part, c.fill_pieces_per_request);
  std::string s = buf;
  if (lens.size() <= 8) {
    s += " lens={";
    for (size_t i = 0; i < lens.size(); ++i)
      s += (i ? "," : "") + std::to_string(lens[i]);
    s += "}";
  }
  return s;
}

struct Stats {
  int64_t cases = 0;
  int64_t split_requests = 0;
  int64_t idle_parts_before_busy = 0;  // empty parts followed by a busy one
};
Stats g_stats;

void check_plan(std::vector<int32_t> const& lens, SchedulerConfig const& c, const char* kind) {
  g_case = describe(lens, c, kind);
  ++g_stats.cases;
  const int32_t b = int32_t(lens.size());
  const int64_t F = c.fixed_overhead_blocks;

  std::vector<int64_t> prefix(size_t(b) + 1, -1);
  std::vector<SchedMeta> meta(size_t(c.num_parts));
  std::vector<int32_t> num_splits(size_t(b) + 1, -7);
  // Poison the records so that an unwritten one is noticed.
  for (SchedMeta& m : meta) {
    m.begin_req = m.begin_block = m.end_req = m.end_block = -99;
    m.begin_split = m.flags = m.reserved[0] = m.reserved[1] = -99;
  }
  const int32_t ret = cute_mla::plan_on_host(lens.data(), b, c, prefix.data(), meta.data(),
                                             num_splits.data());

  // Independent totals: T = sum(pages_i + F); parts_used as SplitPlanner::plan
  // documents it (ceil(T / min_blocks) parts, unless that leaves over half
  // the parts idle: then parts of at most fill_blocks (rounding up), up to
  // half of them, when fill_blocks > 0; at most num_parts).
  std::vector<int64_t> pages(static_cast<size_t>(b));
  int64_t T = 0;
  for (int32_t i = 0; i < b; ++i) {
    pages[size_t(i)] = sched_pages(lens[size_t(i)]);
    T += pages[size_t(i)] + F;
  }
  const int64_t by_min = ceil_div(T, std::max<int64_t>(c.min_blocks_per_part, 1));
  // ...or all the fill parts the line needs when that is at most num_parts
  // and fill_pieces_per_request per request.
  int64_t by_fill = 0;
  if (c.fill_blocks_per_part > 0 && by_min <= c.num_parts / 2) {
    by_fill = ceil_div(T, c.fill_blocks_per_part);
    if (by_fill > c.num_parts || by_fill > int64_t(c.fill_pieces_per_request) * b)
      by_fill = std::min<int64_t>(by_fill, c.num_parts / 2);
  }
  const int64_t parts_used = std::max<int64_t>(
      1, std::min<int64_t>(std::max(by_min, by_fill), c.num_parts));
  const cute_mla::SplitPlan plan = cute_mla::SplitPlanner::plan(T, b, c);
  CHECK(plan.total == T);
  CHECK(plan.parts_used == parts_used);
  CHECK(prefix[size_t(b)] == T);
  const int64_t quota = ceil_div(T, parts_used);
  CHECK(plan.quota == quota);

  // Walk the records in order. The cursor is the next (request, page) that
  // must be covered; each non-empty part must start exactly there, so every
  // page is covered once and parts appear in request-major order.
  std::vector<int32_t> pieces(size_t(b), 0);  // parts touching request i
  std::vector<int32_t> split_index_seen;      // begin_split per part (or -1)
  int32_t cur_req = 0;
  int64_t cur_page = 0;
  int32_t last_nonempty = -1;
  for (int32_t p = 0; p < c.num_parts; ++p) {
    SchedMeta const& m = meta[size_t(p)];
    CHECK(m.reserved[0] == 0 && m.reserved[1] == 0);
    if (m.begin_req > m.end_req) {  // empty
      CHECK(m.empty());
      CHECK(m.flags == 0);
      continue;
    }
    CHECK(!m.empty());
    // A part's own bounds.
    REQUIRE(m.begin_req >= 0 && m.end_req < b);
    REQUIRE(m.begin_block >= 0 && m.begin_block < pages[size_t(m.begin_req)]);
    REQUIRE(m.end_block >= 1 && m.end_block <= pages[size_t(m.end_req)]);
    if (m.begin_req == m.end_req) REQUIRE(m.begin_block < m.end_block);
    // Contiguity with what came before: exactly-once coverage, in order.
    REQUIRE(m.begin_req == cur_req && m.begin_block == cur_page);
    g_stats.idle_parts_before_busy += p - last_nonempty - 1;
    last_nonempty = p;

    // begin_split: the index of this piece among begin_req's pieces.
    CHECK(m.begin_split == pieces[size_t(m.begin_req)]);
    for (int32_t r = m.begin_req; r <= m.end_req; ++r) ++pieces[size_t(r)];

    // Cost: pages + F per piece <= ceil(T / parts_used) + F.
    int64_t part_pages = 0;
    if (m.begin_req == m.end_req) {
      part_pages = m.end_block - m.begin_block;
    } else {
      part_pages = pages[size_t(m.begin_req)] - m.begin_block + m.end_block;
      for (int32_t r = m.begin_req + 1; r < m.end_req; ++r) part_pages += pages[size_t(r)];
    }
    const int64_t cost = part_pages + F * (int64_t(m.end_req) - m.begin_req + 1);
    CHECK(cost <= quota + F);
    CHECK(p < parts_used);  // no work beyond the parts the plan uses

    if (m.end_block == pages[size_t(m.end_req)]) {
      cur_req = m.end_req + 1;
      cur_page = 0;
    } else {
      cur_req = m.end_req;
      cur_page = m.end_block;
    }
  }
  CHECK(cur_req == b && cur_page == 0);  // everything covered
  if (cur_req != b || cur_page != 0) return;

  // num_splits: exclusive prefix sum of pieces per request.
  CHECK(num_splits[0] == 0);
  for (int32_t i = 0; i < b; ++i) {
    CHECK(pieces[size_t(i)] >= 1);
    CHECK(num_splits[size_t(i) + 1] - num_splits[size_t(i)] == pieces[size_t(i)]);
    if (pieces[size_t(i)] > 1) ++g_stats.split_requests;
  }
  CHECK(ret == num_splits[size_t(b)]);
  CHECK(int64_t(num_splits[size_t(b)]) <= int64_t(b) + c.num_parts);
  CHECK(int64_t(num_splits[size_t(b)]) <= int64_t(b) + parts_used - 1);  // the stronger claim

  // Flags: set exactly when the first / last request of the part has > 1 pieces.
  for (int32_t p = 0; p < c.num_parts; ++p) {
    SchedMeta const& m = meta[size_t(p)];
    if (m.empty()) continue;
    const bool first_split = pieces[size_t(m.begin_req)] > 1;
    const bool last_split = pieces[size_t(m.end_req)] > 1;
    CHECK(((m.flags & SchedMeta::kFirstReqSplit) != 0) == first_split);
    CHECK(((m.flags & SchedMeta::kLastReqSplit) != 0) == last_split);
    CHECK((m.flags & ~(SchedMeta::kFirstReqSplit | SchedMeta::kLastReqSplit)) == 0);
    // A request in the middle of a part lies wholly inside it.
    for (int32_t r = m.begin_req + 1; r < m.end_req; ++r) CHECK(pieces[size_t(r)] == 1);
  }

  // The host plan is a pure function of its inputs.
  std::vector<int64_t> prefix2(size_t(b) + 1);
  std::vector<SchedMeta> meta2(size_t(c.num_parts));
  std::vector<int32_t> num_splits2(size_t(b) + 1);
  cute_mla::plan_on_host(lens.data(), b, c, prefix2.data(), meta2.data(), num_splits2.data());
  CHECK(num_splits2 == num_splits);
  bool same = true;
  for (int32_t p = 0; p < c.num_parts; ++p) {
    SchedMeta const& x = meta[size_t(p)];
    SchedMeta const& y = meta2[size_t(p)];
    same = same && x.begin_req == y.begin_req && x.begin_block == y.begin_block &&
           x.end_req == y.end_req && x.end_block == y.end_block &&
           x.begin_split == y.begin_split && x.flags == y.flags;
  }
  CHECK(same);
}

// --- batch generators ---------------------------------------------------------

const int32_t kBatchSizes[] = {1, 2, 3, 7, 31, 64, 128, 129, 1000, 4096, 16384};
const int32_t kEdgeLens[] = {0, 1, 63, 64, 65, 127, 128, 129, 4096, 8191};

std::vector<int32_t> random_lens(std::mt19937& rng, int32_t b, int kind) {
  std::vector<int32_t> lens(size_t(b), 0);
  std::uniform_int_distribution<int> edge(0, int(sizeof(kEdgeLens) / sizeof(int32_t)) - 1);
  switch (kind) {
    case 0: {  // uniform, up to 32K tokens
      std::uniform_int_distribution<int32_t> d(0, 32768);
      for (int32_t& l : lens) l = d(rng);
      break;
    }
    case 1:  // page-boundary lengths
      for (int32_t& l : lens) l = kEdgeLens[edge(rng)];
      break;
    case 2: {  // skewed: one huge request, the rest tiny
      std::uniform_int_distribution<int32_t> tiny(0, 70);
      for (int32_t& l : lens) l = tiny(rng);
      std::uniform_int_distribution<int32_t> pos(0, b - 1);
      lens[size_t(pos(rng))] = 1 << 20;
      break;
    }
    case 3:  // all empty
      break;
    case 4: {  // log-uniform, 1 .. 2^20 tokens
      std::uniform_real_distribution<double> e(0.0, 20.0);
      for (int32_t& l : lens) l = int32_t(std::pow(2.0, e(rng)));
      break;
    }
    default: {  // all equal
      std::uniform_int_distribution<int32_t> d(0, 8192);
      std::fill(lens.begin(), lens.end(), d(rng));
      break;
    }
  }
  return lens;
}

}  // namespace

int main() {
  std::mt19937 rng(20240607u);
  std::uniform_int_distribution<int32_t> parts_d(1, 264);

  // Default configuration (F = 5, min 8 pages), hand-picked cases.
  const SchedulerConfig d132 = make_config(132, 5, 8);
  check_plan({0}, d132, "single empty");
  check_plan({1}, d132, "single token");
  check_plan({63}, d132, "63");
  check_plan({64}, d132, "64");
  check_plan({65}, d132, "65");
  check_plan({64 * 4}, d132, "four pages");
  check_plan({0, 0}, d132, "two empty");
  check_plan({1 << 20}, d132, "one long request");
  check_plan({1 << 20}, make_config(1, 5, 8), "one part");
  check_plan({1 << 20, 1, 1, 1, 1, 1, 1}, d132, "huge first");
  check_plan({1, 1, 1, 1, 1, 1, 1 << 20}, d132, "huge last");
  check_plan({-5, 0, 64}, d132, "negative length counts as one page");
  check_plan({INT32_MAX}, make_config(264, 5, 8), "int32 max length");
  check_plan(std::vector<int32_t>(16384, INT32_MAX), make_config(264, 5, 8),
             "16384 x int32 max");
  check_plan(std::vector<int32_t>(16384, 0), make_config(264, 5, 8), "16384 empty");
  check_plan(std::vector<int32_t>(16384, 1), make_config(1, 5, 8), "16384 x 1, one part");

  // The config the host API derives for an H100 (132 SMs).
  for (int h_kv : {1, 2}) {
    for (int rows : {1, 16, 64, 65, 128, 128 * 64}) {
      SchedulerConfig c = cute_mla::default_scheduler_config(132, h_kv, rows);
      g_case = "default_scheduler_config";
      CHECK(c.num_parts >= 1 && c.num_parts <= cute_mla::Limits::kMaxParts);
      CHECK(c.page_size == kPage);
      check_plan({4096, 0, 65, 1 << 16, 7}, c, "default config");
    }
  }

  // Random batches: every batch size x every length kind x a few configs.
  const int32_t overheads[] = {0, 1, 5, 16};
  const int32_t min_blocks[] = {1, 8, 32};
  const int32_t fill_blocks[] = {0, 1, 2, 4};
  const int32_t fill_pieces[] = {0, 1, 9, 24};
  for (int32_t b : kBatchSizes) {
    const int reps = b >= 4096 ? 2 : (b >= 1000 ? 6 : 30);
    for (int kind = 0; kind < 6; ++kind) {
      for (int rep = 0; rep < reps; ++rep) {
        std::vector<int32_t> lens = random_lens(rng, b, kind);
        const int32_t parts = rep == 0 ? 1 : (rep == 1 ? 264 : parts_d(rng));
        const int32_t F = rep < 2 ? 5 : overheads[rng() % 4];
        const int32_t mb = rep < 2 ? 8 : min_blocks[rng() % 3];
        const int32_t fill = rep < 2 ? 2 : fill_blocks[rng() % 4];
        const int32_t pieces = rep < 2 ? 0 : fill_pieces[rng() % 4];
        static const char* kinds[] = {"uniform", "page edges", "skewed",
                                      "all zero", "log-uniform", "all equal"};
        check_plan(lens, make_config(parts, F, mb, fill, pieces), kinds[kind]);
      }
    }
  }

  // Every part count 1..264 on one skewed and one uniform batch.
  {
    std::vector<int32_t> skew = random_lens(rng, 300, 2);
    std::vector<int32_t> unif = random_lens(rng, 57, 0);
    for (int32_t parts = 1; parts <= 264; ++parts) {
      check_plan(skew, make_config(parts, 5, 8), "sweep skewed");
      check_plan(unif, make_config(parts, 5, 8), "sweep uniform");
    }
  }

  std::printf("test_planner: %lld plans, %d checks, %lld split requests, "
              "%lld empty parts ahead of a busy one; %d failure(s)\n",
              static_cast<long long>(g_stats.cases), g_checks,
              static_cast<long long>(g_stats.split_requests),
              static_cast<long long>(g_stats.idle_parts_before_busy), g_failures);
  return g_failures == 0 ? 0 : 1;
}
