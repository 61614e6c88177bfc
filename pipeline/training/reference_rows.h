#pragma once
// The two reference rows every comparison (benchmark, ablation) shows beside the adaptation methods,
// with one meaning each. They are not adaptation methods: no --retrain.method names them.
namespace jcas::reference_row {

// The source model as imported or trained, not adapted.
inline constexpr const char* source = "source";
inline constexpr const char* source_title = "no adaptation";

// The method `upper_bound_method` trained on the true labels of the images the methods adapt on,
// one round from the source model: what the labels they estimate are worth.
inline constexpr const char* upper_bound = "upper_bound";
inline constexpr const char* upper_bound_title = "CE, true target labels";
inline constexpr const char* upper_bound_method = "ce";

}  // namespace jcas::reference_row
