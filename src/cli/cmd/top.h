#ifndef AHP_TOP_H
#define AHP_TOP_H
int ahprof_cmd_top(int argc, char **argv);

#include <linux/types.h>
/* A percentile P of a log2 histogram of callback durations (ahp_type_stats.hist), in ns,
 * never above MAX_NS: what top shows as P50us and P99us. */
double ahp_top_hist_percentile(const __u64 *hist, double p, __u64 max_ns);
#endif
