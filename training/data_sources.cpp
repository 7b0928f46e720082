#include "training/data_sources.h"

#include <algorithm>

#include "training/data/synthetic.h"
#include "training/data/tsv_held_out.h"
#include "training/data/tsv_reader.h"

namespace rowshard {
namespace {

TsvLayout layout_of(const config::TsvData& tsv) {
  if (tsv.criteo_layout) return criteo_layout();
  TsvLayout layout;
  layout.label_column = tsv.label_column;
  int last = tsv.label_column;
  for (int64_t c : tsv.dense_columns) {
    layout.dense_columns.push_back(static_cast<int>(c));
    last = std::max(last, static_cast<int>(c));
  }
  for (int64_t c : tsv.categorical_columns) {
    layout.categorical_columns.push_back(static_cast<int>(c));
    last = std::max(last, static_cast<int>(c));
  }
  layout.num_columns = last + 1;
  validate_layout(layout);
  return layout;
}

// The number of rows of each feature's table, in config order.
std::vector<int64_t> rows_per_feature(const config::JobConfig& job) {
  std::vector<int64_t> rows;
  for (const FeatureConfig& feature : job.features)
    for (const config::TableSpec& table : job.tables)
      if (table.collection.table.name == feature.table)
        rows.push_back(table.collection.table.num_embeddings);
  return rows;
}

DataSources synthetic_sources(const config::JobConfig& job, const Communicator& comm) {
  SyntheticOptions options;
  options.seed = job.seed;
  options.num_dense = job.data.synthetic.num_dense;
  options.rows_per_feature = rows_per_feature(job);
  options.zipf_alpha = job.data.synthetic.zipf_alpha;
  options.signal = job.data.synthetic.signal;
  options.global_batch_size = job.batch_size;
  options.rank = comm.rank();
  options.world_size = comm.size();
  DataSources sources;
  sources.num_dense = options.num_dense;
  sources.train = std::make_unique<SyntheticSource>(options);
  HeldOut held_out = synthetic_held_out(options, job.eval_examples);
  sources.held_out.batch = std::move(held_out.batch);
  sources.held_out.planted_probability.assign(held_out.planted_probability.begin(),
                                              held_out.planted_probability.end());
  return sources;
}

DataSources tsv_sources(const config::JobConfig& job, const Communicator& comm) {
  TsvReaderOptions options;
  options.files = job.data.tsv.files;
  options.layout = layout_of(job.data.tsv);
  options.rows_per_feature = rows_per_feature(job);
  options.batch_size = job.batch_size / comm.size();
  options.rank = comm.rank();
  options.world_size = comm.size();
  options.on_malformed = job.data.tsv.fail_on_malformed ? TsvReaderOptions::OnMalformed::fail
                                                        : TsvReaderOptions::OnMalformed::skip;
  options.loop = true;
  DataSources sources;
  sources.num_dense = static_cast<int64_t>(options.layout.dense_columns.size());
  sources.train = std::make_unique<TsvReader>(options);
  if (!job.data.tsv.eval_files.empty()) {
    TsvReaderOptions eval_options = options;
    eval_options.files = job.data.tsv.eval_files;
    TsvHeldOut held_out = tsv_held_out(eval_options, job.eval_examples);
    sources.held_out.batch = std::move(held_out.batch);
    sources.held_out.skipped_lines = held_out.skipped_lines;
  }
  return sources;
}

}  // namespace

DataSources open_data_sources(const config::JobConfig& job, const Communicator& comm) {
  return job.data.source == "synthetic" ? synthetic_sources(job, comm) : tsv_sources(job, comm);
}

}  // namespace rowshard
