"""Peer figures on one H100 80GB HBM3 SXM, transcribed from the project's reference notes.

Sources (facts and figures carry over; the tables were parsed from the markdown, not retyped):
  - FLASHMLA_KERNEL, FLASHMLA_RUN2, FLASHMLA_RUN3: docs/reference/flashmla-h100.md
    (FlashMLA commit 9241ae3, CUDA 13.0, PyTorch 2.11, measured 2026-11-22).
  - GRAPH_REPLAY: docs/reference/flashmla-fa3-h100.md (FlashMLA and FlashAttention-3's MLA path
    side by side on identical inputs, measured 2026-11-22).

Why two tables and two methods: FlashMLA's own headline numbers time the decode ("splitkv") kernel
alone under CUPTI with an 8 GB memset before each call; the side-by-side comparison times the
whole op (decode + combine) replayed in a CUDA graph after a 256 MiB L2 flush, median of 30. Our
bench reports both, and compares each of its figures only with the peer figure of the same method.

Key: (dtype, b, s_q, h_q, L, causal); h_kv = 1, page 64, lengths max(N(L, L/2), s_q), so
"mean_len" is the mean of the drawn lengths, not L. The two files drew them with different
generators (bench/peer_lengths.py reproduces both): flashmla-h100.md's tables with FlashMLA's
test's ("kernel-ref"), flashmla-fa3-h100.md's with torch's ("graph-ref"; 1.33x L at b=1, 0.97x L
at b=128). peer_figures() gives a run only the figures measured on its own lengths.
s_q = 1 rows are non-causal (FlashMLA forces causal=False when s_q = 1).
Where flashmla-h100.md lists a point twice (its b=128 h_q=128 tables), the first (run 1, the
test's own grid) is kept; the repeats agree within 0.5 %.
"""

from __future__ import annotations

Key = tuple[str, int, int, int, int, bool]

#: Copy and matmul ceilings measured in the peers' own runs (for context only: our ratios use the
#: ceilings measured in our run).
PEER_CEILINGS = {
    "flashmla-h100.md": {"copy_gbps": 3028.0, "matmul_tflops": 790.0, "matmul_tflops_sustained": 714.0},
    "flashmla-fa3-h100.md": {"copy_gbps": 3019.0},
}

#: flashmla-h100.md, "FlashMLA bf16" / "FlashMLA fp16" / "Constraint probes" tables.
#: decode_us = flash_fwd_splitkv_mla_kernel alone (mean of 10 under CUPTI, 8 GB memset before each
#: call; combine excluded); combine_us = the combine kernel in the same profile; eager_us = the
#: Python call between CUDA events, median of 30 (a 256 MB write between calls hides most host
#: time). tflops / gbps / pct_copy use decode_us and the copy ceiling 3028 GB/s.
FLASHMLA_KERNEL: dict[Key, dict] = {
    ('bf16', 128, 1, 128, 4096, False): {'mean_len': 4117, 'decode_us': 274.1, 'tflops': 535.4, 'gbps': 2344, 'pct_copy': 77.4, 'combine_us': 13.3, 'eager_us': 288.3},
    ('bf16', 128, 1, 128, 8192, False): {'mean_len': 8234, 'decode_us': 507.7, 'tflops': 578.2, 'gbps': 2462, 'pct_copy': 81.3, 'combine_us': 13.2, 'eager_us': 520.7},
    ('bf16', 128, 1, 128, 16384, False): {'mean_len': 16469, 'decode_us': 970.2, 'tflops': 605.1, 'gbps': 2540, 'pct_copy': 83.9, 'combine_us': 14.3, 'eager_us': 987.1},
    ('bf16', 128, 1, 128, 32768, False): {'mean_len': 32938, 'decode_us': 1887.0, 'tflops': 622.3, 'gbps': 2593, 'pct_copy': 85.6, 'combine_us': 14.3, 'eager_us': 1903.7},
    ('bf16', 128, 2, 128, 4096, False): {'mean_len': 4117, 'decode_us': 435.5, 'tflops': 674.0, 'gbps': 1558, 'pct_copy': 51.4, 'combine_us': 14.2, 'eager_us': 450.4},
    ('bf16', 128, 2, 128, 8192, False): {'mean_len': 8234, 'decode_us': 827.4, 'tflops': 709.6, 'gbps': 1554, 'pct_copy': 51.3, 'combine_us': 16.1, 'eager_us': 845.3},
    ('bf16', 128, 2, 128, 16384, False): {'mean_len': 16469, 'decode_us': 1609.3, 'tflops': 729.7, 'gbps': 1553, 'pct_copy': 51.3, 'combine_us': 15.8, 'eager_us': 1645.5},
    ('bf16', 128, 2, 128, 32768, False): {'mean_len': 32938, 'decode_us': 3174.0, 'tflops': 740.0, 'gbps': 1553, 'pct_copy': 51.3, 'combine_us': 15.9, 'eager_us': 3562.3},
    ('bf16', 128, 2, 128, 4096, True): {'mean_len': 4117, 'decode_us': 436.0, 'tflops': 673.3, 'gbps': 1556, 'pct_copy': 51.4, 'combine_us': 14.0, 'eager_us': 450.7},
    ('bf16', 128, 2, 128, 8192, True): {'mean_len': 8234, 'decode_us': 829.1, 'tflops': 708.2, 'gbps': 1551, 'pct_copy': 51.2, 'combine_us': 16.2, 'eager_us': 846.9},
    ('bf16', 128, 2, 128, 16384, True): {'mean_len': 16469, 'decode_us': 1613.1, 'tflops': 728.0, 'gbps': 1550, 'pct_copy': 51.2, 'combine_us': 15.8, 'eager_us': 1694.1},
    ('bf16', 128, 2, 128, 32768, True): {'mean_len': 32938, 'decode_us': 3186.5, 'tflops': 737.0, 'gbps': 1547, 'pct_copy': 51.1, 'combine_us': 16.4, 'eager_us': 3403.3},
    ('bf16', 128, 1, 16, 1024, False): {'mean_len': 1029, 'decode_us': 73.2, 'tflops': 62.6, 'gbps': 2133, 'pct_copy': 70.4, 'combine_us': 3.8, 'eager_us': 78.8},
    ('bf16', 128, 1, 16, 4096, False): {'mean_len': 4117, 'decode_us': 235.9, 'tflops': 77.8, 'gbps': 2592, 'pct_copy': 85.6, 'combine_us': 3.9, 'eager_us': 242.6},
    ('bf16', 128, 1, 16, 8192, False): {'mean_len': 8234, 'decode_us': 443.7, 'tflops': 82.7, 'gbps': 2746, 'pct_copy': 90.7, 'combine_us': 4.1, 'eager_us': 452.6},
    ('bf16', 128, 1, 16, 16384, False): {'mean_len': 16469, 'decode_us': 853.5, 'tflops': 86.0, 'gbps': 2850, 'pct_copy': 94.1, 'combine_us': 4.3, 'eager_us': 860.4},
    ('bf16', 128, 1, 32, 1024, False): {'mean_len': 1029, 'decode_us': 75.4, 'tflops': 121.6, 'gbps': 2131, 'pct_copy': 70.4, 'combine_us': 5.2, 'eager_us': 81.9},
    ('bf16', 128, 1, 32, 4096, False): {'mean_len': 4117, 'decode_us': 237.9, 'tflops': 154.2, 'gbps': 2589, 'pct_copy': 85.5, 'combine_us': 5.6, 'eager_us': 246.3},
    ('bf16', 128, 1, 32, 8192, False): {'mean_len': 8234, 'decode_us': 448.6, 'tflops': 163.6, 'gbps': 2726, 'pct_copy': 90.0, 'combine_us': 5.6, 'eager_us': 458.6},
    ('bf16', 128, 1, 32, 16384, False): {'mean_len': 16469, 'decode_us': 855.6, 'tflops': 171.6, 'gbps': 2849, 'pct_copy': 94.1, 'combine_us': 5.8, 'eager_us': 865.2},
    ('bf16', 128, 1, 64, 1024, False): {'mean_len': 1029, 'decode_us': 81.2, 'tflops': 226.0, 'gbps': 2089, 'pct_copy': 69.0, 'combine_us': 9.0, 'eager_us': 92.0},
    ('bf16', 128, 1, 64, 4096, False): {'mean_len': 4117, 'decode_us': 245.1, 'tflops': 299.4, 'gbps': 2549, 'pct_copy': 84.2, 'combine_us': 11.0, 'eager_us': 256.6},
    ('bf16', 128, 1, 64, 8192, False): {'mean_len': 8234, 'decode_us': 456.0, 'tflops': 321.9, 'gbps': 2702, 'pct_copy': 89.2, 'combine_us': 11.2, 'eager_us': 468.7},
    ('bf16', 128, 1, 64, 16384, False): {'mean_len': 16469, 'decode_us': 866.0, 'tflops': 339.0, 'gbps': 2825, 'pct_copy': 93.3, 'combine_us': 11.4, 'eager_us': 882.4},
    ('bf16', 128, 1, 128, 1024, False): {'mean_len': 1029, 'decode_us': 93.2, 'tflops': 393.4, 'gbps': 2010, 'pct_copy': 66.4, 'combine_us': 10.3, 'eager_us': 103.9},
    ('bf16', 128, 2, 16, 1024, True): {'mean_len': 1029, 'decode_us': 75.7, 'tflops': 121.2, 'gbps': 2122, 'pct_copy': 70.1, 'combine_us': 5.5, 'eager_us': 82.7},
    ('bf16', 128, 2, 16, 4096, True): {'mean_len': 4117, 'decode_us': 238.1, 'tflops': 154.1, 'gbps': 2587, 'pct_copy': 85.4, 'combine_us': 6.3, 'eager_us': 246.2},
    ('bf16', 128, 2, 16, 8192, True): {'mean_len': 8234, 'decode_us': 448.8, 'tflops': 163.5, 'gbps': 2725, 'pct_copy': 90.0, 'combine_us': 6.3, 'eager_us': 459.1},
    ('bf16', 128, 2, 16, 16384, True): {'mean_len': 16469, 'decode_us': 856.6, 'tflops': 171.4, 'gbps': 2846, 'pct_copy': 94.0, 'combine_us': 6.5, 'eager_us': 866.2},
    ('bf16', 128, 2, 32, 1024, True): {'mean_len': 1029, 'decode_us': 81.4, 'tflops': 225.3, 'gbps': 2083, 'pct_copy': 68.8, 'combine_us': 9.6, 'eager_us': 91.8},
    ('bf16', 128, 2, 32, 4096, True): {'mean_len': 4117, 'decode_us': 244.9, 'tflops': 299.7, 'gbps': 2552, 'pct_copy': 84.3, 'combine_us': 11.8, 'eager_us': 257.6},
    ('bf16', 128, 2, 32, 8192, True): {'mean_len': 8234, 'decode_us': 456.6, 'tflops': 321.4, 'gbps': 2698, 'pct_copy': 89.1, 'combine_us': 12.1, 'eager_us': 469.7},
    ('bf16', 128, 2, 32, 16384, True): {'mean_len': 16469, 'decode_us': 866.0, 'tflops': 339.0, 'gbps': 2825, 'pct_copy': 93.3, 'combine_us': 12.0, 'eager_us': 882.3},
    ('bf16', 128, 2, 64, 1024, True): {'mean_len': 1029, 'decode_us': 93.5, 'tflops': 392.4, 'gbps': 2004, 'pct_copy': 66.2, 'combine_us': 10.5, 'eager_us': 104.1},
    ('bf16', 128, 2, 64, 4096, True): {'mean_len': 4117, 'decode_us': 274.1, 'tflops': 535.4, 'gbps': 2344, 'pct_copy': 77.4, 'combine_us': 13.3, 'eager_us': 289.0},
    ('bf16', 128, 2, 64, 8192, True): {'mean_len': 8234, 'decode_us': 507.6, 'tflops': 578.3, 'gbps': 2462, 'pct_copy': 81.3, 'combine_us': 13.6, 'eager_us': 522.2},
    ('bf16', 128, 2, 64, 16384, True): {'mean_len': 16469, 'decode_us': 970.3, 'tflops': 605.1, 'gbps': 2539, 'pct_copy': 83.9, 'combine_us': 14.6, 'eager_us': 990.3},
    ('bf16', 128, 2, 128, 1024, True): {'mean_len': 1029, 'decode_us': 146.3, 'tflops': 501.6, 'gbps': 1525, 'pct_copy': 50.4, 'combine_us': 11.7, 'eager_us': 156.8},
    ('bf16', 32, 1, 16, 1024, False): {'mean_len': 999, 'decode_us': 24.9, 'tflops': 44.7, 'gbps': 1523, 'pct_copy': 50.3, 'combine_us': 3.9, 'eager_us': 31.5},
    ('bf16', 32, 1, 16, 4096, False): {'mean_len': 3999, 'decode_us': 65.8, 'tflops': 67.7, 'gbps': 2256, 'pct_copy': 74.5, 'combine_us': 4.5, 'eager_us': 72.5},
    ('bf16', 32, 1, 16, 8192, False): {'mean_len': 7999, 'decode_us': 119.9, 'tflops': 74.3, 'gbps': 2468, 'pct_copy': 81.5, 'combine_us': 4.7, 'eager_us': 127.2},
    ('bf16', 32, 1, 16, 16384, False): {'mean_len': 15999, 'decode_us': 225.1, 'tflops': 79.2, 'gbps': 2625, 'pct_copy': 86.7, 'combine_us': 4.8, 'eager_us': 233.1},
    ('bf16', 32, 1, 32, 1024, False): {'mean_len': 999, 'decode_us': 25.6, 'tflops': 87.1, 'gbps': 1528, 'pct_copy': 50.5, 'combine_us': 4.9, 'eager_us': 32.4},
    ('bf16', 32, 1, 32, 4096, False): {'mean_len': 3999, 'decode_us': 67.0, 'tflops': 133.0, 'gbps': 2233, 'pct_copy': 73.7, 'combine_us': 5.3, 'eager_us': 74.5},
    ('bf16', 32, 1, 32, 8192, False): {'mean_len': 7999, 'decode_us': 121.0, 'tflops': 147.3, 'gbps': 2456, 'pct_copy': 81.1, 'combine_us': 5.6, 'eager_us': 128.6},
    ('bf16', 32, 1, 32, 16384, False): {'mean_len': 15999, 'decode_us': 225.8, 'tflops': 157.9, 'gbps': 2622, 'pct_copy': 86.6, 'combine_us': 5.5, 'eager_us': 234.4},
    ('bf16', 32, 1, 64, 1024, False): {'mean_len': 999, 'decode_us': 27.5, 'tflops': 161.8, 'gbps': 1500, 'pct_copy': 49.5, 'combine_us': 7.8, 'eager_us': 36.5},
    ('bf16', 32, 1, 64, 4096, False): {'mean_len': 3999, 'decode_us': 69.8, 'tflops': 255.2, 'gbps': 2175, 'pct_copy': 71.8, 'combine_us': 7.8, 'eager_us': 78.2},
    ('bf16', 32, 1, 64, 8192, False): {'mean_len': 7999, 'decode_us': 122.8, 'tflops': 290.2, 'gbps': 2437, 'pct_copy': 80.5, 'combine_us': 7.9, 'eager_us': 131.7},
    ('bf16', 32, 1, 64, 16384, False): {'mean_len': 15999, 'decode_us': 228.1, 'tflops': 312.5, 'gbps': 2605, 'pct_copy': 86.0, 'combine_us': 7.9, 'eager_us': 237.4},
    ('bf16', 32, 1, 128, 1024, False): {'mean_len': 999, 'decode_us': 33.3, 'tflops': 267.9, 'gbps': 1376, 'pct_copy': 45.4, 'combine_us': 8.7, 'eager_us': 41.4},
    ('bf16', 32, 1, 128, 4096, False): {'mean_len': 3999, 'decode_us': 77.2, 'tflops': 461.8, 'gbps': 2026, 'pct_copy': 66.9, 'combine_us': 9.3, 'eager_us': 86.0},
    ('bf16', 32, 1, 128, 8192, False): {'mean_len': 7999, 'decode_us': 134.4, 'tflops': 530.4, 'gbps': 2260, 'pct_copy': 74.6, 'combine_us': 8.7, 'eager_us': 143.9},
    ('bf16', 32, 1, 128, 16384, False): {'mean_len': 15999, 'decode_us': 247.2, 'tflops': 576.8, 'gbps': 2422, 'pct_copy': 80.0, 'combine_us': 8.7, 'eager_us': 256.1},
    ('bf16', 32, 2, 16, 1024, True): {'mean_len': 1000, 'decode_us': 25.7, 'tflops': 86.6, 'gbps': 1519, 'pct_copy': 50.2, 'combine_us': 4.7, 'eager_us': 32.3},
    ('bf16', 32, 2, 16, 4096, True): {'mean_len': 4000, 'decode_us': 66.7, 'tflops': 133.6, 'gbps': 2244, 'pct_copy': 74.1, 'combine_us': 5.3, 'eager_us': 74.8},
    ('bf16', 32, 2, 16, 8192, True): {'mean_len': 7999, 'decode_us': 121.2, 'tflops': 147.1, 'gbps': 2451, 'pct_copy': 80.9, 'combine_us': 5.6, 'eager_us': 128.5},
    ('bf16', 32, 2, 16, 16384, True): {'mean_len': 15999, 'decode_us': 226.8, 'tflops': 157.2, 'gbps': 2610, 'pct_copy': 86.2, 'combine_us': 5.7, 'eager_us': 234.1},
    ('bf16', 32, 2, 32, 1024, True): {'mean_len': 1000, 'decode_us': 27.4, 'tflops': 162.8, 'gbps': 1509, 'pct_copy': 49.8, 'combine_us': 7.7, 'eager_us': 36.5},
    ('bf16', 32, 2, 32, 4096, True): {'mean_len': 4000, 'decode_us': 69.3, 'tflops': 257.0, 'gbps': 2190, 'pct_copy': 72.3, 'combine_us': 7.7, 'eager_us': 78.5},
    ('bf16', 32, 2, 32, 8192, True): {'mean_len': 7999, 'decode_us': 123.1, 'tflops': 289.5, 'gbps': 2431, 'pct_copy': 80.3, 'combine_us': 7.8, 'eager_us': 132.4},
    ('bf16', 32, 2, 32, 16384, True): {'mean_len': 15999, 'decode_us': 228.3, 'tflops': 312.3, 'gbps': 2603, 'pct_copy': 86.0, 'combine_us': 8.0, 'eager_us': 237.6},
    ('bf16', 32, 2, 64, 1024, True): {'mean_len': 1000, 'decode_us': 33.1, 'tflops': 269.5, 'gbps': 1384, 'pct_copy': 45.7, 'combine_us': 8.4, 'eager_us': 41.9},
    ('bf16', 32, 2, 64, 4096, True): {'mean_len': 4000, 'decode_us': 77.1, 'tflops': 462.6, 'gbps': 2029, 'pct_copy': 67.0, 'combine_us': 9.1, 'eager_us': 86.3},
    ('bf16', 32, 2, 64, 8192, True): {'mean_len': 7999, 'decode_us': 134.2, 'tflops': 531.4, 'gbps': 2264, 'pct_copy': 74.8, 'combine_us': 9.2, 'eager_us': 144.0},
    ('bf16', 32, 2, 64, 16384, True): {'mean_len': 15999, 'decode_us': 247.3, 'tflops': 576.7, 'gbps': 2421, 'pct_copy': 80.0, 'combine_us': 8.5, 'eager_us': 256.8},
    ('bf16', 32, 2, 128, 1024, True): {'mean_len': 1000, 'decode_us': 47.5, 'tflops': 375.1, 'gbps': 1151, 'pct_copy': 38.0, 'combine_us': 9.0, 'eager_us': 57.5},
    ('bf16', 32, 2, 128, 4096, True): {'mean_len': 4000, 'decode_us': 118.7, 'tflops': 600.5, 'gbps': 1392, 'pct_copy': 46.0, 'combine_us': 10.3, 'eager_us': 129.3},
    ('bf16', 32, 2, 128, 8192, True): {'mean_len': 7999, 'decode_us': 213.4, 'tflops': 668.1, 'gbps': 1465, 'pct_copy': 48.4, 'combine_us': 10.7, 'eager_us': 223.5},
    ('bf16', 32, 2, 128, 16384, True): {'mean_len': 15999, 'decode_us': 399.0, 'tflops': 714.8, 'gbps': 1523, 'pct_copy': 50.3, 'combine_us': 11.6, 'eager_us': 413.4},
    ('bf16', 8, 1, 16, 1024, False): {'mean_len': 985, 'decode_us': 12.8, 'tflops': 21.4, 'gbps': 731, 'pct_copy': 24.1, 'combine_us': 5.7, 'eager_us': 32.2},
    ('bf16', 8, 1, 16, 4096, False): {'mean_len': 3941, 'decode_us': 23.3, 'tflops': 47.0, 'gbps': 1569, 'pct_copy': 51.8, 'combine_us': 7.2, 'eager_us': 34.5},
    ('bf16', 8, 1, 16, 8192, False): {'mean_len': 7883, 'decode_us': 37.3, 'tflops': 58.8, 'gbps': 1953, 'pct_copy': 64.5, 'combine_us': 8.9, 'eager_us': 48.1},
    ('bf16', 8, 1, 16, 16384, False): {'mean_len': 15766, 'decode_us': 64.6, 'tflops': 68.0, 'gbps': 2253, 'pct_copy': 74.4, 'combine_us': 8.7, 'eager_us': 75.1},
    ('bf16', 8, 1, 32, 1024, False): {'mean_len': 985, 'decode_us': 13.3, 'tflops': 41.2, 'gbps': 724, 'pct_copy': 23.9, 'combine_us': 6.8, 'eager_us': 21.0},
    ('bf16', 8, 1, 32, 4096, False): {'mean_len': 3941, 'decode_us': 24.2, 'tflops': 90.9, 'gbps': 1527, 'pct_copy': 50.4, 'combine_us': 8.5, 'eager_us': 35.1},
    ('bf16', 8, 1, 32, 8192, False): {'mean_len': 7883, 'decode_us': 37.6, 'tflops': 116.8, 'gbps': 1947, 'pct_copy': 64.3, 'combine_us': 9.5, 'eager_us': 49.6},
    ('bf16', 8, 1, 32, 16384, False): {'mean_len': 15766, 'decode_us': 64.6, 'tflops': 136.0, 'gbps': 2258, 'pct_copy': 74.6, 'combine_us': 9.4, 'eager_us': 76.0},
    ('bf16', 8, 1, 64, 1024, False): {'mean_len': 985, 'decode_us': 14.9, 'tflops': 73.4, 'gbps': 682, 'pct_copy': 22.5, 'combine_us': 9.0, 'eager_us': 22.9},
    ('bf16', 8, 1, 64, 4096, False): {'mean_len': 3941, 'decode_us': 26.2, 'tflops': 167.5, 'gbps': 1428, 'pct_copy': 47.2, 'combine_us': 11.3, 'eager_us': 37.8},
    ('bf16', 8, 1, 64, 8192, False): {'mean_len': 7883, 'decode_us': 39.8, 'tflops': 220.7, 'gbps': 1854, 'pct_copy': 61.2, 'combine_us': 13.0, 'eager_us': 53.6},
    ('bf16', 8, 1, 64, 16384, False): {'mean_len': 15766, 'decode_us': 67.4, 'tflops': 260.8, 'gbps': 2174, 'pct_copy': 71.8, 'combine_us': 10.9, 'eager_us': 78.3},
    ('bf16', 8, 1, 128, 1024, False): {'mean_len': 985, 'decode_us': 16.9, 'tflops': 130.0, 'gbps': 670, 'pct_copy': 22.1, 'combine_us': 9.9, 'eager_us': 25.2},
    ('bf16', 8, 1, 128, 4096, False): {'mean_len': 3941, 'decode_us': 29.4, 'tflops': 298.3, 'gbps': 1310, 'pct_copy': 43.2, 'combine_us': 12.9, 'eager_us': 41.1},
    ('bf16', 8, 1, 128, 8192, False): {'mean_len': 7883, 'decode_us': 42.5, 'tflops': 413.0, 'gbps': 1760, 'pct_copy': 58.1, 'combine_us': 10.7, 'eager_us': 54.5},
    ('bf16', 8, 1, 128, 16384, False): {'mean_len': 15766, 'decode_us': 72.1, 'tflops': 487.1, 'gbps': 2046, 'pct_copy': 67.6, 'combine_us': 10.8, 'eager_us': 82.1},
    ('bf16', 8, 2, 16, 1024, True): {'mean_len': 985, 'decode_us': 13.7, 'tflops': 40.1, 'gbps': 704, 'pct_copy': 23.2, 'combine_us': 6.7, 'eager_us': 20.5},
    ('bf16', 8, 2, 16, 4096, True): {'mean_len': 3941, 'decode_us': 24.1, 'tflops': 91.2, 'gbps': 1533, 'pct_copy': 50.6, 'combine_us': 8.5, 'eager_us': 34.0},
    ('bf16', 8, 2, 16, 8192, True): {'mean_len': 7883, 'decode_us': 37.9, 'tflops': 116.0, 'gbps': 1933, 'pct_copy': 63.8, 'combine_us': 9.6, 'eager_us': 49.3},
    ('bf16', 8, 2, 16, 16384, True): {'mean_len': 15766, 'decode_us': 64.2, 'tflops': 136.7, 'gbps': 2270, 'pct_copy': 75.0, 'combine_us': 9.5, 'eager_us': 76.0},
    ('bf16', 8, 2, 32, 1024, True): {'mean_len': 985, 'decode_us': 15.0, 'tflops': 73.0, 'gbps': 678, 'pct_copy': 22.4, 'combine_us': 8.9, 'eager_us': 23.4},
    ('bf16', 8, 2, 32, 4096, True): {'mean_len': 3941, 'decode_us': 26.1, 'tflops': 168.3, 'gbps': 1435, 'pct_copy': 47.4, 'combine_us': 11.3, 'eager_us': 38.5},
    ('bf16', 8, 2, 32, 8192, True): {'mean_len': 7883, 'decode_us': 40.3, 'tflops': 218.1, 'gbps': 1832, 'pct_copy': 60.5, 'combine_us': 12.9, 'eager_us': 55.3},
    ('bf16', 8, 2, 32, 16384, True): {'mean_len': 15766, 'decode_us': 66.3, 'tflops': 264.8, 'gbps': 2207, 'pct_copy': 72.9, 'combine_us': 11.0, 'eager_us': 78.8},
    ('bf16', 8, 2, 64, 1024, True): {'mean_len': 985, 'decode_us': 17.3, 'tflops': 127.0, 'gbps': 654, 'pct_copy': 21.6, 'combine_us': 9.7, 'eager_us': 26.0},
    ('bf16', 8, 2, 64, 4096, True): {'mean_len': 3941, 'decode_us': 29.7, 'tflops': 296.2, 'gbps': 1300, 'pct_copy': 42.9, 'combine_us': 12.0, 'eager_us': 87.5},
    ('bf16', 8, 2, 64, 8192, True): {'mean_len': 7883, 'decode_us': 43.5, 'tflops': 403.7, 'gbps': 1721, 'pct_copy': 56.8, 'combine_us': 11.4, 'eager_us': 54.3},
    ('bf16', 8, 2, 64, 16384, True): {'mean_len': 15766, 'decode_us': 72.0, 'tflops': 487.8, 'gbps': 2049, 'pct_copy': 67.6, 'combine_us': 12.2, 'eager_us': 81.7},
    ('bf16', 8, 2, 128, 1024, True): {'mean_len': 985, 'decode_us': 20.9, 'tflops': 209.8, 'gbps': 647, 'pct_copy': 21.4, 'combine_us': 8.4, 'eager_us': 36.3},
    ('bf16', 8, 2, 128, 4096, True): {'mean_len': 3941, 'decode_us': 40.7, 'tflops': 432.0, 'gbps': 1003, 'pct_copy': 33.1, 'combine_us': 11.9, 'eager_us': 52.1},
    ('bf16', 8, 2, 128, 8192, True): {'mean_len': 7883, 'decode_us': 62.0, 'tflops': 566.4, 'gbps': 1243, 'pct_copy': 41.1, 'combine_us': 10.9, 'eager_us': 73.5},
    ('bf16', 8, 2, 128, 16384, True): {'mean_len': 15766, 'decode_us': 110.2, 'tflops': 637.4, 'gbps': 1359, 'pct_copy': 44.9, 'combine_us': 11.3, 'eager_us': 119.6},
    ('bf16', 1, 1, 16, 1024, False): {'mean_len': 929, 'decode_us': 9.0, 'tflops': 3.6, 'gbps': 122, 'pct_copy': 4.0, 'combine_us': 6.2, 'eager_us': 19.3},
    ('bf16', 1, 1, 16, 4096, False): {'mean_len': 3719, 'decode_us': 10.1, 'tflops': 12.8, 'gbps': 426, 'pct_copy': 14.1, 'combine_us': 15.3, 'eager_us': 26.6},
    ('bf16', 1, 1, 16, 8192, False): {'mean_len': 7438, 'decode_us': 11.6, 'tflops': 22.4, 'gbps': 744, 'pct_copy': 24.6, 'combine_us': 27.1, 'eager_us': 39.7},
    ('bf16', 1, 1, 16, 16384, False): {'mean_len': 14877, 'decode_us': 15.6, 'tflops': 33.2, 'gbps': 1100, 'pct_copy': 36.3, 'combine_us': 26.6, 'eager_us': 42.9},
    ('bf16', 1, 1, 32, 1024, False): {'mean_len': 929, 'decode_us': 10.3, 'tflops': 6.3, 'gbps': 110, 'pct_copy': 3.6, 'combine_us': 6.9, 'eager_us': 30.5},
    ('bf16', 1, 1, 32, 4096, False): {'mean_len': 3719, 'decode_us': 10.7, 'tflops': 24.2, 'gbps': 407, 'pct_copy': 13.4, 'combine_us': 16.0, 'eager_us': 28.0},
    ('bf16', 1, 1, 32, 8192, False): {'mean_len': 7438, 'decode_us': 13.0, 'tflops': 39.9, 'gbps': 665, 'pct_copy': 22.0, 'combine_us': 29.0, 'eager_us': 41.7},
    ('bf16', 1, 1, 32, 16384, False): {'mean_len': 14877, 'decode_us': 16.2, 'tflops': 64.0, 'gbps': 1064, 'pct_copy': 35.1, 'combine_us': 27.4, 'eager_us': 44.5},
    ('bf16', 1, 1, 64, 1024, False): {'mean_len': 929, 'decode_us': 12.7, 'tflops': 10.2, 'gbps': 95, 'pct_copy': 3.1, 'combine_us': 7.9, 'eager_us': 25.6},
    ('bf16', 1, 1, 64, 4096, False): {'mean_len': 3719, 'decode_us': 12.2, 'tflops': 42.3, 'gbps': 362, 'pct_copy': 11.9, 'combine_us': 18.1, 'eager_us': 29.3},
    ('bf16', 1, 1, 64, 8192, False): {'mean_len': 7438, 'decode_us': 15.0, 'tflops': 69.2, 'gbps': 582, 'pct_copy': 19.2, 'combine_us': 31.5, 'eager_us': 44.2},
    ('bf16', 1, 1, 64, 16384, False): {'mean_len': 14877, 'decode_us': 17.8, 'tflops': 116.7, 'gbps': 973, 'pct_copy': 32.1, 'combine_us': 30.7, 'eager_us': 48.4},
    ('bf16', 1, 1, 128, 1024, False): {'mean_len': 929, 'decode_us': 10.4, 'tflops': 24.8, 'gbps': 129, 'pct_copy': 4.3, 'combine_us': 8.4, 'eager_us': 18.5},
    ('bf16', 1, 1, 128, 4096, False): {'mean_len': 3719, 'decode_us': 13.6, 'tflops': 76.3, 'gbps': 336, 'pct_copy': 11.1, 'combine_us': 21.3, 'eager_us': 33.4},
    ('bf16', 1, 1, 128, 8192, False): {'mean_len': 7438, 'decode_us': 15.6, 'tflops': 132.8, 'gbps': 567, 'pct_copy': 18.7, 'combine_us': 21.5, 'eager_us': 35.4},
    ('bf16', 1, 1, 128, 16384, False): {'mean_len': 14877, 'decode_us': 19.9, 'tflops': 208.4, 'gbps': 876, 'pct_copy': 28.9, 'combine_us': 20.3, 'eager_us': 47.8},
    ('bf16', 1, 2, 16, 1024, True): {'mean_len': 929, 'decode_us': 9.7, 'tflops': 6.7, 'gbps': 118, 'pct_copy': 3.9, 'combine_us': 6.8, 'eager_us': 49.4},
    ('bf16', 1, 2, 16, 4096, True): {'mean_len': 3719, 'decode_us': 10.9, 'tflops': 23.8, 'gbps': 400, 'pct_copy': 13.2, 'combine_us': 16.0, 'eager_us': 46.6},
    ('bf16', 1, 2, 16, 8192, True): {'mean_len': 7438, 'decode_us': 12.7, 'tflops': 40.8, 'gbps': 681, 'pct_copy': 22.5, 'combine_us': 28.0, 'eager_us': 42.1},
    ('bf16', 1, 2, 16, 16384, True): {'mean_len': 14877, 'decode_us': 16.5, 'tflops': 62.7, 'gbps': 1041, 'pct_copy': 34.4, 'combine_us': 26.9, 'eager_us': 44.1},
    ('bf16', 1, 2, 32, 1024, True): {'mean_len': 929, 'decode_us': 10.7, 'tflops': 12.0, 'gbps': 113, 'pct_copy': 3.7, 'combine_us': 7.9, 'eager_us': 38.2},
    ('bf16', 1, 2, 32, 4096, True): {'mean_len': 3719, 'decode_us': 12.6, 'tflops': 41.2, 'gbps': 351, 'pct_copy': 11.6, 'combine_us': 18.0, 'eager_us': 33.5},
    ('bf16', 1, 2, 32, 8192, True): {'mean_len': 7438, 'decode_us': 15.3, 'tflops': 67.7, 'gbps': 569, 'pct_copy': 18.8, 'combine_us': 31.5, 'eager_us': 44.5},
    ('bf16', 1, 2, 32, 16384, True): {'mean_len': 14877, 'decode_us': 18.2, 'tflops': 113.7, 'gbps': 948, 'pct_copy': 31.3, 'combine_us': 30.9, 'eager_us': 47.7},
    ('bf16', 1, 2, 64, 1024, True): {'mean_len': 929, 'decode_us': 10.9, 'tflops': 23.7, 'gbps': 124, 'pct_copy': 4.1, 'combine_us': 8.3, 'eager_us': 18.1},
    ('bf16', 1, 2, 64, 4096, True): {'mean_len': 3719, 'decode_us': 13.8, 'tflops': 74.9, 'gbps': 330, 'pct_copy': 10.9, 'combine_us': 21.8, 'eager_us': 36.3},
    ('bf16', 1, 2, 64, 8192, True): {'mean_len': 7438, 'decode_us': 15.7, 'tflops': 131.6, 'gbps': 562, 'pct_copy': 18.6, 'combine_us': 21.5, 'eager_us': 37.4},
    ('bf16', 1, 2, 64, 16384, True): {'mean_len': 14877, 'decode_us': 20.1, 'tflops': 206.1, 'gbps': 866, 'pct_copy': 28.6, 'combine_us': 21.2, 'eager_us': 39.3},
    ('bf16', 1, 2, 128, 1024, True): {'mean_len': 929, 'decode_us': 11.2, 'tflops': 46.4, 'gbps': 146, 'pct_copy': 4.8, 'combine_us': 8.8, 'eager_us': 42.9},
    ('bf16', 1, 2, 128, 4096, True): {'mean_len': 3719, 'decode_us': 15.2, 'tflops': 136.2, 'gbps': 318, 'pct_copy': 10.5, 'combine_us': 20.7, 'eager_us': 49.5},
    ('bf16', 1, 2, 128, 8192, True): {'mean_len': 7438, 'decode_us': 18.8, 'tflops': 220.9, 'gbps': 486, 'pct_copy': 16.1, 'combine_us': 19.7, 'eager_us': 41.3},
    ('bf16', 1, 2, 128, 16384, True): {'mean_len': 14877, 'decode_us': 25.2, 'tflops': 329.2, 'gbps': 703, 'pct_copy': 23.2, 'combine_us': 18.8, 'eager_us': 45.0},
    ('fp16', 128, 1, 128, 4096, False): {'mean_len': 4117, 'decode_us': 278.2, 'tflops': 527.5, 'gbps': 2310, 'pct_copy': 76.3, 'combine_us': 13.4, 'eager_us': 291.1},
    ('fp16', 128, 1, 128, 16384, False): {'mean_len': 16469, 'decode_us': 983.2, 'tflops': 597.2, 'gbps': 2506, 'pct_copy': 82.8, 'combine_us': 14.5, 'eager_us': 1000.9},
    ('fp16', 128, 2, 128, 8192, True): {'mean_len': 8234, 'decode_us': 854.5, 'tflops': 687.1, 'gbps': 1504, 'pct_copy': 49.7, 'combine_us': 16.2, 'eager_us': 871.0},
    ('fp16', 128, 2, 128, 16384, True): {'mean_len': 16469, 'decode_us': 1665.5, 'tflops': 705.1, 'gbps': 1501, 'pct_copy': 49.6, 'combine_us': 16.2, 'eager_us': 1718.6},
    ('fp16', 128, 1, 16, 16384, False): {'mean_len': 16469, 'decode_us': 852.5, 'tflops': 86.1, 'gbps': 2854, 'pct_copy': 94.2, 'combine_us': 4.2, 'eager_us': 861.6},
    ('fp16', 128, 1, 64, 8192, False): {'mean_len': 8234, 'decode_us': 455.8, 'tflops': 322.0, 'gbps': 2703, 'pct_copy': 89.3, 'combine_us': 11.3, 'eager_us': 470.1},
    ('fp16', 32, 2, 128, 8192, True): {'mean_len': 7999, 'decode_us': 217.6, 'tflops': 655.2, 'gbps': 1437, 'pct_copy': 47.5, 'combine_us': 10.7, 'eager_us': 227.9},
    ('bf16', 128, 1, 8, 4096, False): {'mean_len': 4117, 'decode_us': 234.0, 'tflops': 39.2, 'gbps': 2604, 'pct_copy': 86.0, 'combine_us': 3.3, 'eager_us': 241.0},
    ('bf16', 128, 1, 8, 16384, False): {'mean_len': 16469, 'decode_us': 847.7, 'tflops': 43.3, 'gbps': 2867, 'pct_copy': 94.7, 'combine_us': 3.6, 'eager_us': 855.3},
    ('bf16', 128, 2, 8, 8192, True): {'mean_len': 8234, 'decode_us': 445.6, 'tflops': 82.4, 'gbps': 2735, 'pct_copy': 90.3, 'combine_us': 4.4, 'eager_us': 453.0},
}

#: flashmla-h100.md, "Repeats, PDL-aware span, and sustained rate (run 2)".
#: span_us = first splitkv start to last combine end (whole op on the GPU, 8 GB memset between
#: calls); sustained_us = 100 eager calls back-to-back with no flush, per call.
FLASHMLA_RUN2: dict[Key, dict] = {
    ('bf16', 128, 1, 16, 16384, False): {'decode_us': 855.1, 'span_us': 857.8, 'sustained_us': 823.9, 'sm_clock_after': '1980 MHz'},
    ('bf16', 128, 1, 8, 16384, False): {'decode_us': 847.7, 'span_us': 850.0, 'sustained_us': 815.9, 'sm_clock_after': '1980 MHz'},
    ('bf16', 128, 1, 64, 16384, False): {'decode_us': 867.6, 'span_us': 875.6, 'sustained_us': 883.9, 'sm_clock_after': '1905 MHz'},
    ('bf16', 128, 1, 128, 16384, False): {'decode_us': 967.9, 'span_us': 978.5, 'sustained_us': 989.3, 'sm_clock_after': '1575 MHz'},
    ('bf16', 128, 1, 128, 4096, False): {'decode_us': 276.3, 'span_us': 286.3, 'sustained_us': 286.1, 'sm_clock_after': '1965 MHz'},
    ('bf16', 128, 2, 128, 4096, True): {'decode_us': 435.4, 'span_us': 446.2, 'sustained_us': 447.8, 'sm_clock_after': '1875 MHz'},
    ('bf16', 128, 2, 128, 16384, True): {'decode_us': 1609.7, 'span_us': 1622.5, 'sustained_us': 1790.5, 'sm_clock_after': '1590 MHz'},
    ('bf16', 128, 2, 128, 32768, False): {'decode_us': 3187.5, 'span_us': 3200.4, 'sustained_us': 3547.0, 'sm_clock_after': '1500 MHz'},
    ('bf16', 128, 2, 128, 32768, True): {'decode_us': 3179.6, 'span_us': 3192.1, 'sustained_us': 3559.4, 'sm_clock_after': '1470 MHz'},
    ('bf16', 32, 2, 128, 16384, True): {'decode_us': 399.7, 'span_us': 408.3, 'sustained_us': 414.6, 'sm_clock_after': '1635 MHz'},
    ('bf16', 8, 1, 128, 16384, False): {'decode_us': 72.3, 'span_us': 78.2, 'sustained_us': 85.5, 'sm_clock_after': '1965 MHz'},
    ('bf16', 1, 1, 128, 16384, False): {'decode_us': 20.5, 'span_us': 35.2, 'sustained_us': 87.4, 'sm_clock_after': '1965 MHz'},
    ('bf16', 1, 1, 16, 1024, False): {'decode_us': 9.6, 'span_us': 13.7, 'sustained_us': 85.7, 'sm_clock_after': '1980 MHz'},
    ('bf16', 1, 2, 128, 4096, True): {'decode_us': 15.5, 'span_us': 30.0, 'sustained_us': 86.1, 'sm_clock_after': '1980 MHz'},
    ('fp16', 128, 1, 16, 16384, False): {'decode_us': 851.6, 'span_us': 854.2, 'sustained_us': 821.1, 'sm_clock_after': '1980 MHz'},
    ('fp16', 128, 2, 128, 16384, True): {'decode_us': 1664.6, 'span_us': 1677.0, 'sustained_us': 1880.9, 'sm_clock_after': '1425 MHz'},
}

#: flashmla-h100.md, "Host overhead and CUDA graphs (run 3)".
#: host_cpu_us = host wall time per eager call (200 calls, no sync); graph_replay_us = whole op
#: replayed in a CUDA graph, events, median, 256 MB flush between replays.
FLASHMLA_RUN3: dict[Key, dict] = {
    ('bf16', 1, 1, 16, 1024, False): {'host_cpu_us': 89, 'decode_us_eager': 8.4, 'decode_us_graph': 8.0, 'span_us_eager': 12.8, 'span_us_graph': 12.3, 'graph_replay_us': 15.2, 'graph_back_to_back_us': 12.4},
    ('bf16', 1, 1, 128, 16384, False): {'host_cpu_us': 81, 'decode_us_eager': 19.9, 'decode_us_graph': 19.4, 'span_us_eager': 35.5, 'span_us_graph': 35.7, 'graph_replay_us': 38.8, 'graph_back_to_back_us': 34.4},
    ('bf16', 8, 1, 128, 16384, False): {'host_cpu_us': 82, 'decode_us_eager': 72.1, 'decode_us_graph': 71.2, 'span_us_eager': 79.2, 'span_us_graph': 77.4, 'graph_replay_us': 80.9, 'graph_back_to_back_us': 76.2},
    ('bf16', 128, 1, 8, 16384, False): {'host_cpu_us': 86, 'decode_us_eager': 850.8, 'decode_us_graph': 851.5, 'span_us_eager': 853.8, 'span_us_graph': 853.7, 'graph_replay_us': 858.2, 'graph_back_to_back_us': 817.2},
    ('bf16', 128, 1, 64, 16384, False): {'host_cpu_us': 67, 'decode_us_eager': 866.9, 'decode_us_graph': 867.1, 'span_us_eager': 875.7, 'span_us_graph': 876.0, 'graph_replay_us': 881.3, 'graph_back_to_back_us': 880.3},
    ('bf16', 128, 1, 128, 16384, False): {'host_cpu_us': 82, 'decode_us_eager': 988.6, 'decode_us_graph': 965.8, 'span_us_eager': 999.7, 'span_us_graph': 978.1, 'graph_replay_us': 985.3, 'graph_back_to_back_us': 1024.5},
    ('bf16', 128, 2, 128, 16384, True): {'host_cpu_us': 84, 'decode_us_eager': 1610.3, 'decode_us_graph': 1613.2, 'span_us_eager': 1624.8, 'span_us_graph': 1627.4, 'graph_replay_us': 1667.5, 'graph_back_to_back_us': 1840.9},
}

#: flashmla-fa3-h100.md: whole op (decode + combine) in a CUDA graph, metadata planned before
#: capture, replayed after a 256 MiB L2 flush, median of 30; copy ceiling in that run 3019 GB/s.
#: "best" is that file's verdict (faster by more than 3 %, else "tie").
#: One FlashMLA figure (b=32 s_q=2 h_q=128 L=1024) was a one-off: re-runs gave 53-62 us; the
#: fastest re-run is what best_graph_peer() uses there (the strict choice for our targets).
GRAPH_REPLAY: dict[Key, dict] = {
    ('bf16', 128, 1, 16, 1024, False): {'flashmla_us': 76.5, 'flashmla_pct_copy': 65.6, 'flashmla_tflops': 58, 'fa3_us': 84.5, 'fa3_pct_copy': 59.3, 'fa3_tflops': 53, 'best': 'FlashMLA'},
    ('bf16', 128, 1, 16, 4096, False): {'flashmla_us': 233.2, 'flashmla_pct_copy': 84.1, 'flashmla_tflops': 76, 'fa3_us': 240.4, 'fa3_pct_copy': 81.6, 'fa3_tflops': 74, 'best': 'FlashMLA'},
    ('bf16', 128, 1, 16, 16384, False): {'flashmla_us': 832.4, 'flashmla_pct_copy': 93.7, 'flashmla_tflops': 85, 'fa3_us': 851.6, 'fa3_pct_copy': 91.6, 'fa3_tflops': 83, 'best': 'tie'},
    ('bf16', 128, 1, 64, 1024, False): {'flashmla_us': 89.9, 'flashmla_pct_copy': 60.7, 'flashmla_tflops': 198, 'fa3_us': 98.8, 'fa3_pct_copy': 55.2, 'fa3_tflops': 180, 'best': 'FlashMLA'},
    ('bf16', 128, 1, 64, 4096, False): {'flashmla_us': 246.0, 'flashmla_pct_copy': 81.6, 'flashmla_tflops': 289, 'fa3_us': 260.7, 'fa3_pct_copy': 77.0, 'fa3_tflops': 273, 'best': 'FlashMLA'},
    ('bf16', 128, 1, 64, 16384, False): {'flashmla_us': 855.4, 'flashmla_pct_copy': 91.7, 'flashmla_tflops': 332, 'fa3_us': 880.1, 'fa3_pct_copy': 89.2, 'fa3_tflops': 323, 'best': 'tie'},
    ('bf16', 128, 1, 128, 1024, False): {'flashmla_us': 102.8, 'flashmla_pct_copy': 58.9, 'flashmla_tflops': 346, 'fa3_us': 113.7, 'fa3_pct_copy': 53.2, 'fa3_tflops': 313, 'best': 'FlashMLA'},
    ('bf16', 128, 1, 128, 4096, False): {'flashmla_us': 280.8, 'flashmla_pct_copy': 73.6, 'flashmla_tflops': 506, 'fa3_us': 286.8, 'fa3_pct_copy': 72.0, 'fa3_tflops': 496, 'best': 'tie'},
    ('bf16', 128, 1, 128, 16384, False): {'flashmla_us': 967.2, 'flashmla_pct_copy': 81.8, 'flashmla_tflops': 588, 'fa3_us': 980.4, 'fa3_pct_copy': 80.7, 'fa3_tflops': 580, 'best': 'tie'},
    ('bf16', 128, 2, 16, 1024, True): {'flashmla_us': 90.5, 'flashmla_pct_copy': 57.0, 'flashmla_tflops': 98, 'fa3_us': 93.7, 'fa3_pct_copy': 55.1, 'fa3_tflops': 95, 'best': 'FlashMLA'},
    ('bf16', 128, 2, 16, 4096, True): {'flashmla_us': 238.8, 'flashmla_pct_copy': 82.8, 'flashmla_tflops': 149, 'fa3_us': 251.4, 'fa3_pct_copy': 78.6, 'fa3_tflops': 141, 'best': 'FlashMLA'},
    ('bf16', 128, 2, 16, 16384, True): {'flashmla_us': 842.0, 'flashmla_pct_copy': 92.9, 'flashmla_tflops': 169, 'fa3_us': 865.8, 'fa3_pct_copy': 90.3, 'fa3_tflops': 164, 'best': 'tie'},
    ('bf16', 128, 2, 64, 1024, True): {'flashmla_us': 103.2, 'flashmla_pct_copy': 58.6, 'flashmla_tflops': 344, 'fa3_us': 115.6, 'fa3_pct_copy': 52.3, 'fa3_tflops': 307, 'best': 'FlashMLA'},
    ('bf16', 128, 2, 64, 4096, True): {'flashmla_us': 281.8, 'flashmla_pct_copy': 73.3, 'flashmla_tflops': 504, 'fa3_us': 287.5, 'fa3_pct_copy': 71.8, 'fa3_tflops': 495, 'best': 'tie'},
    ('bf16', 128, 2, 64, 16384, True): {'flashmla_us': 966.5, 'flashmla_pct_copy': 81.8, 'flashmla_tflops': 588, 'fa3_us': 1033.9, 'fa3_pct_copy': 76.5, 'fa3_tflops': 550, 'best': 'FlashMLA'},
    ('bf16', 128, 2, 128, 1024, True): {'flashmla_us': 176.4, 'flashmla_pct_copy': 41.0, 'flashmla_tflops': 403, 'fa3_us': 199.4, 'fa3_pct_copy': 36.3, 'fa3_tflops': 357, 'best': 'FlashMLA'},
    ('bf16', 128, 2, 128, 4096, True): {'flashmla_us': 451.6, 'flashmla_pct_copy': 48.3, 'flashmla_tflops': 630, 'fa3_us': 494.9, 'fa3_pct_copy': 44.1, 'fa3_tflops': 574, 'best': 'FlashMLA'},
    ('bf16', 128, 2, 128, 16384, True): {'flashmla_us': 1608.7, 'flashmla_pct_copy': 49.9, 'flashmla_tflops': 707, 'fa3_us': 1933.9, 'fa3_pct_copy': 41.5, 'fa3_tflops': 588, 'best': 'FlashMLA'},
    ('bf16', 32, 1, 16, 1024, False): {'flashmla_us': 31.8, 'flashmla_pct_copy': 33.8, 'flashmla_tflops': 30, 'fa3_us': 32.6, 'fa3_pct_copy': 33.0, 'fa3_tflops': 29, 'best': 'tie'},
    ('bf16', 32, 1, 16, 4096, False): {'flashmla_us': 64.9, 'flashmla_pct_copy': 64.6, 'flashmla_tflops': 58, 'fa3_us': 69.6, 'fa3_pct_copy': 60.2, 'fa3_tflops': 54, 'best': 'FlashMLA'},
    ('bf16', 32, 1, 16, 16384, False): {'flashmla_us': 199.8, 'flashmla_pct_copy': 83.4, 'flashmla_tflops': 76, 'fa3_us': 220.1, 'fa3_pct_copy': 75.7, 'fa3_tflops': 69, 'best': 'FlashMLA'},
    ('bf16', 32, 1, 64, 1024, False): {'flashmla_us': 31.6, 'flashmla_pct_copy': 37.5, 'flashmla_tflops': 120, 'fa3_us': 37.3, 'fa3_pct_copy': 31.8, 'fa3_tflops': 102, 'best': 'FlashMLA'},
    ('bf16', 32, 1, 64, 4096, False): {'flashmla_us': 68.5, 'flashmla_pct_copy': 62.8, 'flashmla_tflops': 221, 'fa3_us': 76.2, 'fa3_pct_copy': 56.4, 'fa3_tflops': 199, 'best': 'FlashMLA'},
    ('bf16', 32, 1, 64, 16384, False): {'flashmla_us': 204.0, 'flashmla_pct_copy': 82.2, 'flashmla_tflops': 297, 'fa3_us': 234.8, 'fa3_pct_copy': 71.4, 'fa3_tflops': 258, 'best': 'FlashMLA'},
    ('bf16', 32, 1, 128, 1024, False): {'flashmla_us': 36.9, 'flashmla_pct_copy': 36.2, 'flashmla_tflops': 206, 'fa3_us': 51.2, 'fa3_pct_copy': 26.1, 'fa3_tflops': 148, 'best': 'FlashMLA'},
    ('bf16', 32, 1, 128, 4096, False): {'flashmla_us': 77.3, 'flashmla_pct_copy': 57.6, 'flashmla_tflops': 393, 'fa3_us': 108.3, 'fa3_pct_copy': 41.1, 'fa3_tflops': 280, 'best': 'FlashMLA'},
    ('bf16', 32, 1, 128, 16384, False): {'flashmla_us': 224.1, 'flashmla_pct_copy': 75.5, 'flashmla_tflops': 541, 'fa3_us': 303.3, 'fa3_pct_copy': 55.8, 'fa3_tflops': 400, 'best': 'FlashMLA'},
    ('bf16', 32, 2, 16, 1024, True): {'flashmla_us': 28.8, 'flashmla_pct_copy': 38.7, 'flashmla_tflops': 66, 'fa3_us': 34.8, 'fa3_pct_copy': 32.0, 'fa3_tflops': 55, 'best': 'FlashMLA'},
    ('bf16', 32, 2, 16, 4096, True): {'flashmla_us': 64.9, 'flashmla_pct_copy': 65.2, 'flashmla_tflops': 117, 'fa3_us': 73.0, 'fa3_pct_copy': 58.0, 'fa3_tflops': 104, 'best': 'FlashMLA'},
    ('bf16', 32, 2, 16, 16384, True): {'flashmla_us': 200.9, 'flashmla_pct_copy': 83.1, 'flashmla_tflops': 151, 'fa3_us': 227.0, 'fa3_pct_copy': 73.5, 'fa3_tflops': 134, 'best': 'FlashMLA'},
    ('bf16', 32, 2, 64, 1024, True): {'flashmla_us': 37.6, 'flashmla_pct_copy': 35.4, 'flashmla_tflops': 202, 'fa3_us': 55.4, 'fa3_pct_copy': 24.1, 'fa3_tflops': 137, 'best': 'FlashMLA'},
    ('bf16', 32, 2, 64, 4096, True): {'flashmla_us': 77.6, 'flashmla_pct_copy': 57.3, 'flashmla_tflops': 391, 'fa3_us': 112.5, 'fa3_pct_copy': 39.5, 'fa3_tflops': 270, 'best': 'FlashMLA'},
    ('bf16', 32, 2, 64, 16384, True): {'flashmla_us': 225.6, 'flashmla_pct_copy': 75.0, 'flashmla_tflops': 538, 'fa3_us': 308.8, 'fa3_pct_copy': 54.8, 'fa3_tflops': 393, 'best': 'FlashMLA'},
    ('bf16', 32, 2, 128, 1024, True): {'flashmla_us': 212.0, 'flashmla_pct_copy': 7.7, 'flashmla_tflops': 72, 'fa3_us': 70.8, 'fa3_pct_copy': 23.0, 'fa3_tflops': 214, 'best': 'FA3',
        'note': 'FlashMLA 212 us here was a one-off: 53-62 us on re-runs with 3 seeds',
        'flashmla_us_rerun': (53.0, 62.0)},
    ('bf16', 32, 2, 128, 4096, True): {'flashmla_us': 118.6, 'flashmla_pct_copy': 40.0, 'flashmla_tflops': 512, 'fa3_us': 153.2, 'fa3_pct_copy': 31.0, 'fa3_tflops': 396, 'best': 'FlashMLA'},
    ('bf16', 32, 2, 128, 16384, True): {'flashmla_us': 360.7, 'flashmla_pct_copy': 47.7, 'flashmla_tflops': 673, 'fa3_us': 478.4, 'fa3_pct_copy': 36.0, 'fa3_tflops': 507, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 16, 1024, False): {'flashmla_us': 19.3, 'flashmla_pct_copy': 16.6, 'flashmla_tflops': 15, 'fa3_us': 20.2, 'fa3_pct_copy': 15.8, 'fa3_tflops': 14, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 16, 4096, False): {'flashmla_us': 31.6, 'flashmla_pct_copy': 39.5, 'flashmla_tflops': 36, 'fa3_us': 33.6, 'fa3_pct_copy': 37.1, 'fa3_tflops': 34, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 16, 16384, False): {'flashmla_us': 74.0, 'flashmla_pct_copy': 67.1, 'flashmla_tflops': 61, 'fa3_us': 77.4, 'fa3_pct_copy': 64.1, 'fa3_tflops': 58, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 64, 1024, False): {'flashmla_us': 22.3, 'flashmla_pct_copy': 15.6, 'flashmla_tflops': 51, 'fa3_us': 25.1, 'fa3_pct_copy': 13.8, 'fa3_tflops': 45, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 64, 4096, False): {'flashmla_us': 35.5, 'flashmla_pct_copy': 35.9, 'flashmla_tflops': 127, 'fa3_us': 39.0, 'fa3_pct_copy': 32.7, 'fa3_tflops': 116, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 64, 16384, False): {'flashmla_us': 77.1, 'flashmla_pct_copy': 64.8, 'flashmla_tflops': 235, 'fa3_us': 82.0, 'fa3_pct_copy': 60.9, 'fa3_tflops': 221, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 128, 1024, False): {'flashmla_us': 24.4, 'flashmla_pct_copy': 15.7, 'flashmla_tflops': 92, 'fa3_us': 26.4, 'fa3_pct_copy': 14.5, 'fa3_tflops': 86, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 128, 4096, False): {'flashmla_us': 38.0, 'flashmla_pct_copy': 34.6, 'flashmla_tflops': 238, 'fa3_us': 41.4, 'fa3_pct_copy': 31.7, 'fa3_tflops': 218, 'best': 'FlashMLA'},
    ('bf16', 8, 1, 128, 16384, False): {'flashmla_us': 80.6, 'flashmla_pct_copy': 62.4, 'flashmla_tflops': 449, 'fa3_us': 86.9, 'fa3_pct_copy': 57.9, 'fa3_tflops': 416, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 16, 1024, True): {'flashmla_us': 20.5, 'flashmla_pct_copy': 16.0, 'flashmla_tflops': 28, 'fa3_us': 22.1, 'fa3_pct_copy': 14.9, 'fa3_tflops': 26, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 16, 4096, True): {'flashmla_us': 32.8, 'flashmla_pct_copy': 38.3, 'flashmla_tflops': 69, 'fa3_us': 36.6, 'fa3_pct_copy': 34.3, 'fa3_tflops': 62, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 16, 16384, True): {'flashmla_us': 74.8, 'flashmla_pct_copy': 66.5, 'flashmla_tflops': 121, 'fa3_us': 79.3, 'fa3_pct_copy': 62.7, 'fa3_tflops': 114, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 64, 1024, True): {'flashmla_us': 24.6, 'flashmla_pct_copy': 15.6, 'flashmla_tflops': 92, 'fa3_us': 28.2, 'fa3_pct_copy': 13.6, 'fa3_tflops': 80, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 64, 4096, True): {'flashmla_us': 38.2, 'flashmla_pct_copy': 34.3, 'flashmla_tflops': 237, 'fa3_us': 43.2, 'fa3_pct_copy': 30.4, 'fa3_tflops': 209, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 64, 16384, True): {'flashmla_us': 81.2, 'flashmla_pct_copy': 61.9, 'flashmla_tflops': 445, 'fa3_us': 88.5, 'fa3_pct_copy': 56.8, 'fa3_tflops': 409, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 128, 1024, True): {'flashmla_us': 28.3, 'flashmla_pct_copy': 16.2, 'flashmla_tflops': 160, 'fa3_us': 33.7, 'fa3_pct_copy': 13.6, 'fa3_tflops': 134, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 128, 4096, True): {'flashmla_us': 49.8, 'flashmla_pct_copy': 27.8, 'flashmla_tflops': 363, 'fa3_us': 54.7, 'fa3_pct_copy': 25.4, 'fa3_tflops': 331, 'best': 'FlashMLA'},
    ('bf16', 8, 2, 128, 16384, True): {'flashmla_us': 124.9, 'flashmla_pct_copy': 40.9, 'flashmla_tflops': 579, 'fa3_us': 139.8, 'fa3_pct_copy': 36.5, 'fa3_tflops': 518, 'best': 'FlashMLA'},
    ('bf16', 1, 1, 16, 1024, False): {'flashmla_us': 18.3, 'flashmla_pct_copy': 2.9, 'flashmla_tflops': 3, 'fa3_us': 17.9, 'fa3_pct_copy': 3.0, 'fa3_tflops': 3, 'best': 'tie'},
    ('bf16', 1, 1, 16, 4096, False): {'flashmla_us': 33.4, 'flashmla_pct_copy': 6.3, 'flashmla_tflops': 6, 'fa3_us': 21.6, 'fa3_pct_copy': 9.7, 'fa3_tflops': 9, 'best': 'FA3'},
    ('bf16', 1, 1, 16, 16384, False): {'flashmla_us': 46.3, 'flashmla_pct_copy': 18.0, 'flashmla_tflops': 16, 'fa3_us': 32.9, 'fa3_pct_copy': 25.3, 'fa3_tflops': 23, 'best': 'FA3'},
    ('bf16', 1, 1, 64, 1024, False): {'flashmla_us': 20.4, 'flashmla_pct_copy': 2.8, 'flashmla_tflops': 9, 'fa3_us': 19.4, 'fa3_pct_copy': 2.9, 'fa3_tflops': 10, 'best': 'FA3'},
    ('bf16', 1, 1, 64, 4096, False): {'flashmla_us': 36.6, 'flashmla_pct_copy': 5.8, 'flashmla_tflops': 21, 'fa3_us': 23.9, 'fa3_pct_copy': 8.9, 'fa3_tflops': 32, 'best': 'FA3'},
    ('bf16', 1, 1, 64, 16384, False): {'flashmla_us': 50.1, 'flashmla_pct_copy': 16.7, 'flashmla_tflops': 61, 'fa3_us': 35.1, 'fa3_pct_copy': 23.8, 'fa3_tflops': 86, 'best': 'FA3'},
    ('bf16', 1, 1, 128, 1024, False): {'flashmla_us': 20.2, 'flashmla_pct_copy': 3.0, 'flashmla_tflops': 19, 'fa3_us': 20.3, 'fa3_pct_copy': 3.0, 'fa3_tflops': 19, 'best': 'tie'},
    ('bf16', 1, 1, 128, 4096, False): {'flashmla_us': 27.3, 'flashmla_pct_copy': 8.0, 'flashmla_tflops': 56, 'fa3_us': 26.5, 'fa3_pct_copy': 8.2, 'fa3_tflops': 57, 'best': 'tie'},
    ('bf16', 1, 1, 128, 16384, False): {'flashmla_us': 39.0, 'flashmla_pct_copy': 21.5, 'flashmla_tflops': 156, 'fa3_us': 43.3, 'fa3_pct_copy': 19.4, 'fa3_tflops': 140, 'best': 'FlashMLA'},
    ('bf16', 1, 2, 16, 1024, True): {'flashmla_us': 19.4, 'flashmla_pct_copy': 2.8, 'flashmla_tflops': 5, 'fa3_us': 19.4, 'fa3_pct_copy': 2.8, 'fa3_tflops': 5, 'best': 'tie'},
    ('bf16', 1, 2, 16, 4096, True): {'flashmla_us': 35.3, 'flashmla_pct_copy': 6.0, 'flashmla_tflops': 11, 'fa3_us': 23.3, 'fa3_pct_copy': 9.0, 'fa3_tflops': 16, 'best': 'FA3'},
    ('bf16', 1, 2, 16, 16384, True): {'flashmla_us': 47.7, 'flashmla_pct_copy': 17.5, 'flashmla_tflops': 32, 'fa3_us': 34.2, 'fa3_pct_copy': 24.4, 'fa3_tflops': 44, 'best': 'FA3'},
    ('bf16', 1, 2, 64, 1024, True): {'flashmla_us': 20.3, 'flashmla_pct_copy': 3.0, 'flashmla_tflops': 19, 'fa3_us': 21.2, 'fa3_pct_copy': 2.9, 'fa3_tflops': 18, 'best': 'FlashMLA'},
    ('bf16', 1, 2, 64, 4096, True): {'flashmla_us': 27.5, 'flashmla_pct_copy': 7.9, 'flashmla_tflops': 55, 'fa3_us': 27.0, 'fa3_pct_copy': 8.0, 'fa3_tflops': 56, 'best': 'tie'},
    ('bf16', 1, 2, 64, 16384, True): {'flashmla_us': 39.3, 'flashmla_pct_copy': 21.4, 'flashmla_tflops': 154, 'fa3_us': 44.7, 'fa3_pct_copy': 18.8, 'fa3_tflops': 136, 'best': 'FlashMLA'},
    ('bf16', 1, 2, 128, 1024, True): {'flashmla_us': 21.7, 'flashmla_pct_copy': 3.2, 'flashmla_tflops': 35, 'fa3_us': 21.6, 'fa3_pct_copy': 3.3, 'fa3_tflops': 35, 'best': 'tie'},
    ('bf16', 1, 2, 128, 4096, True): {'flashmla_us': 35.2, 'flashmla_pct_copy': 6.4, 'flashmla_tflops': 86, 'fa3_us': 33.9, 'fa3_pct_copy': 6.7, 'fa3_tflops': 90, 'best': 'FA3'},
    ('bf16', 1, 2, 128, 16384, True): {'flashmla_us': 49.2, 'flashmla_pct_copy': 17.3, 'flashmla_tflops': 247, 'fa3_us': 49.1, 'fa3_pct_copy': 17.3, 'fa3_tflops': 247, 'best': 'tie'},
}


def peer_key(dtype: str, b: int, s_q: int, h_q: int, seqlen: int, causal: bool) -> Key:
    """The key of the peer tables; s_q = 1 is never causal there."""
    return (dtype, b, s_q, h_q, seqlen, bool(causal) and s_q > 1)


def best_graph_peer(key: Key) -> tuple[str, float] | None:
    """(name, us) of the faster peer in a CUDA graph at this point, or None where unmeasured.

    The raw minimum of the two times (the file's 3 % "tie" band is not applied: our targets
    compare with the faster figure). FlashMLA's re-run figure replaces a recorded one-off.
    """
    row = GRAPH_REPLAY.get(key)
    if row is None:
        return None
    flashmla_us = row["flashmla_us_rerun"][0] if "flashmla_us_rerun" in row else row["flashmla_us"]
    if flashmla_us <= row["fa3_us"]:
        return ("FlashMLA", flashmla_us)
    return ("FA3-MLA", row["fa3_us"])


#: The length draw (bench/peer_lengths.py) each table was measured on.
TABLE_LENGTHS = {"FLASHMLA_KERNEL": "kernel-ref", "FLASHMLA_RUN2": "kernel-ref",
                 "FLASHMLA_RUN3": "kernel-ref", "GRAPH_REPLAY": "graph-ref"}


def peer_figures(key: Key, lengths: str | None = None) -> dict:
    """The peer figures at one point, flattened with stable column names (None if unknown).

    With ``lengths`` (a bench/peer_lengths.py policy), only the tables measured on those lengths
    contribute: a time compares with a peer's only on the same work. None gives every table.
    """
    def table(name: str, rows: dict) -> dict:
        return rows.get(key, {}) if lengths is None or TABLE_LENGTHS[name] == lengths else {}

    kern = table("FLASHMLA_KERNEL", FLASHMLA_KERNEL)
    run2 = table("FLASHMLA_RUN2", FLASHMLA_RUN2)
    run3 = table("FLASHMLA_RUN3", FLASHMLA_RUN3)
    graph = table("GRAPH_REPLAY", GRAPH_REPLAY)
    best = best_graph_peer(key) if graph else None
    return {
        "flashmla_mean_len": kern.get("mean_len"),
        "flashmla_decode_us": kern.get("decode_us"),
        "flashmla_decode_tflops": kern.get("tflops"),
        "flashmla_combine_us": kern.get("combine_us"),
        "flashmla_span_us": run2.get("span_us"),
        "flashmla_host_cpu_us": run3.get("host_cpu_us"),
        "flashmla_run3_graph_us": run3.get("graph_replay_us"),
        "flashmla_graph_us": graph.get("flashmla_us"),
        "flashmla_graph_tflops": graph.get("flashmla_tflops"),
        "fa3_graph_us": graph.get("fa3_us"),
        "fa3_graph_tflops": graph.get("fa3_tflops"),
        "best_peer": best[0] if best else None,
        "best_peer_graph_us": best[1] if best else None,
    }
