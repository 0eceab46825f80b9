// Package data holds r1's datasets: JSONL problem files, and the synthetic
// tasks (integer arithmetic and 3-number Countdown) used to pretrain the
// tiny demo base model and to evaluate R1-Zero runs on it.
//
// The problem space of each task is split by a hash of the problem into a
// training part and a held-out part (1 in 8). The pretraining corpus and
// TrainProblems draw only from the training part and SyntheticProblems only
// from the held-out part, so held-out evaluation stays disjoint from
// everything the model saw whatever seeds the two sides use.
package data
