// Package data is r1's dataset registry: the built-in benchmarks and
// training sets (GSM8K, MATH-500, AIME 2024, AMC 2023, Countdown,
// HumanEval, MBPP, read from the shared/data layout), user JSONL and
// JSONL.gz files, and the synthetic tasks (integer arithmetic and 3-number
// Countdown) used to pretrain the tiny demo base model and to run R1-Zero
// on it. Open serves any of them as Examples; training (grpo), evaluation
// (eval) and the pretraining report all read datasets through it, so a row
// is parsed, and its gold answer normalised, one way everywhere.
//
// Each example names the task that judges it (math, countdown, code), and
// a Judge decides correctness and extracts the answer that majority
// voting counts through the reward of that name in package reward's
// registry. This package links no reward implementation: a program links
// them (reward/all) and they register themselves.
//
// The problem space of each synthetic task is split by a hash of the
// problem into a training part and a held-out part (1 in 8). The
// pretraining corpus and TrainProblems draw only from the training part and
// SyntheticProblems only from the held-out part, so held-out evaluation
// stays disjoint from everything the model saw whatever seeds the two sides
// use.
package data
