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

#include "engine/embedding.h"
#include "engine/embedding_bag.h"
#include "engine/embedding_bag_collection.h"
#include "engine/error.h"
#include "engine/malloc_tuning.h"
#include "engine/optimizers/adagrad.h"
#include "engine/optimizers/optimizer_config.h"
#include "engine/optimizers/rowwise_adagrad.h"
#include "engine/optimizers/sgd.h"
#include "engine/version.h"
#include "io/checkpoint/directory.h"
#include "io/checkpoint/restore.h"
#include "io/checkpoint/save.h"
#include "io/npy/npy_file.h"
#include "io/pretrained.h"
#include "io/safetensors/safetensors_file.h"
#include "sharding/auto_planner.h"
#include "sharding/collectives.h"
#include "sharding/communicator.h"
#include "sharding/sharded_collection.h"
