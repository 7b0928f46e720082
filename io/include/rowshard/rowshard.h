// rowshard: the whole library in one include, for trainers that embed it.
//
//   find_package(rowshard CONFIG REQUIRED)
//   target_link_libraries(my_trainer PRIVATE rowshard::rowshard)
//
//   #include <rowshard/rowshard.h>
//
// What is here, layer by layer:
//   engine    Embedding, EmbeddingBag, EmbeddingBagCollection, optimizers
//             (SGD, Adagrad, row-wise Adagrad), fp32/fp16/bf16 storage
//   sharding  Communicator (MPI or in-process), ShardedEmbeddingBagCollection,
//             auto planning
//   io        checkpoints (save, restore at any rank count), from_pretrained
//             over .npy / safetensors / rowshard files, .npy and safetensors I/O
#pragma once

#include "rowshard/engine/embedding.h"
#include "rowshard/engine/embedding_bag.h"
#include "rowshard/engine/embedding_bag_collection.h"
#include "rowshard/engine/embedding_collection.h"
#include "rowshard/engine/error.h"
#include "rowshard/engine/malloc_tuning.h"
#include "rowshard/engine/optimizers/adagrad.h"
#include "rowshard/engine/optimizers/optimizer_config.h"
#include "rowshard/engine/optimizers/rowwise_adagrad.h"
#include "rowshard/engine/optimizers/sgd.h"
#include "rowshard/engine/shard_layout.h"
#include "rowshard/engine/version.h"
#include "rowshard/io/checkpoint/directory.h"
#include "rowshard/io/checkpoint/restore.h"
#include "rowshard/io/checkpoint/save.h"
#include "rowshard/io/npy/npy_file.h"
#include "rowshard/io/pretrained.h"
#include "rowshard/io/safetensors/safetensors_file.h"
#include "rowshard/sharding/auto_planner.h"
#include "rowshard/sharding/collectives.h"
#include "rowshard/sharding/communicator.h"
#include "rowshard/sharding/sharded_collection.h"
