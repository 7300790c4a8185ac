"""ONNX backend cases the torch importer is known to fail, each with why (grouped by cause).

Generated from a run of tests/importers/test_torch_conformance.py and then kept by hand: the
test fails when a case listed here passes (remove it) or an unlisted case fails.
"""

EXPECTED_FAILURES: dict[str, str] = {}

# --- operator not implemented yet
EXPECTED_FAILURES.update(
    {
        "test_adagrad": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: Adagrad_0 (ai.onnx.preview.training::Adagrad,",
        "test_adagrad_multiple": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: Adagrad_0 (ai.onnx.preview.training::Adagrad,",
        "test_adam": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: Adam_0 (ai.onnx.preview.training::Adam, opset",
        "test_adam_multiple": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: Adam_0 (ai.onnx.preview.training::Adam, opset",
        "test_ai_onnx_ml_array_feature_extractor": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ArrayFeatureExtractor_0 (ai.onnx.ml::ArrayFea",
        "test_ai_onnx_ml_binarizer": "operator not implemented yet: ai.onnx.ml::Binarizer (opset 1) has no handler",
        "test_ai_onnx_ml_tree_ensemble_set_membership": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TreeEnsemble_0 (ai.onnx.ml::TreeEnsemble, ops",
        "test_ai_onnx_ml_tree_ensemble_single_tree": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TreeEnsemble_0 (ai.onnx.ml::TreeEnsemble, ops",
        "test_basic_deform_conv_with_padding": "operator not implemented yet: DeformConv (opset 22) has no handler",
        "test_basic_deform_conv_without_padding": "operator not implemented yet: DeformConv (opset 22) has no handler",
        "test_bernoulli": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RandomUniformLike_0 (RandomUniformLike, opset",
        "test_bernoulli_double": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RandomUniformLike_0 (RandomUniformLike, opset",
        "test_bernoulli_double_expanded": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RandomUniformLike_0 (RandomUniformLike, opset",
        "test_bernoulli_expanded": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RandomUniformLike_0 (RandomUniformLike, opset",
        "test_bernoulli_seed": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RandomUniformLike_0 (RandomUniformLike, opset",
        "test_bernoulli_seed_expanded": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RandomUniformLike_0 (RandomUniformLike, opset",
        "test_convinteger_with_padding": "operator not implemented yet: ConvInteger (opset 10) has no handler",
        "test_convinteger_without_padding": "operator not implemented yet: ConvInteger (opset 10) has no handler",
        "test_deform_conv_with_mask_bias": "operator not implemented yet: DeformConv (opset 22) has no handler",
        "test_deform_conv_with_multiple_offset_groups": "operator not implemented yet: DeformConv (opset 22) has no handler",
        "test_flexattention": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_causal_mask": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_diff_head_sizes": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_double": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_gqa": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_prob_mod": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_relative_positional": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_scaled": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_score_mod": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_flexattention_soft_cap": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_matmulinteger": "operator not implemented yet: MatMulInteger (opset 10) has no handler",
        "test_melweightmatrix": "operator not implemented yet: MelWeightMatrix (opset 17) has no handler",
        "test_momentum": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: Momentum_0 (ai.onnx.preview.training::Momentu",
        "test_momentum_multiple": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: Momentum_0 (ai.onnx.preview.training::Momentu",
        "test_nesterov_momentum": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: Momentum_0 (ai.onnx.preview.training::Momentu",
        "test_qlinearconv": "operator not implemented yet: QLinearConv (opset 10) has no handler",
        "test_qlinearmatmul_2D_int8_float16": "operator not implemented yet: QLinearMatMul (opset 21) has no handler",
        "test_qlinearmatmul_2D_int8_float32": "operator not implemented yet: QLinearMatMul (opset 21) has no handler",
        "test_qlinearmatmul_2D_uint8_float16": "operator not implemented yet: QLinearMatMul (opset 21) has no handler",
        "test_qlinearmatmul_2D_uint8_float32": "operator not implemented yet: QLinearMatMul (opset 21) has no handler",
        "test_qlinearmatmul_3D_int8_float16": "operator not implemented yet: QLinearMatMul (opset 21) has no handler",
        "test_qlinearmatmul_3D_int8_float32": "operator not implemented yet: QLinearMatMul (opset 21) has no handler",
        "test_qlinearmatmul_3D_uint8_float16": "operator not implemented yet: QLinearMatMul (opset 21) has no handler",
        "test_qlinearmatmul_3D_uint8_float32": "operator not implemented yet: QLinearMatMul (opset 21) has no handler",
        "test_scan_sum": "operator not implemented yet: Scan (opset 8) has no handler",
        "test_spacetodepth_crd_mode_example": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: SpaceToDepth_0: attribute 'mode' is not suppo",
        "test_spacetodepth_dcr_mode_example": "operator not implemented yet: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: SpaceToDepth_0: attribute 'mode' is not suppo",
        "test_tensorscatter": "operator not implemented yet: TensorScatter (opset 24) has no handler",
        "test_tensorscatter_3d": "operator not implemented yet: TensorScatter (opset 24) has no handler",
        "test_tensorscatter_circular": "operator not implemented yet: TensorScatter (opset 24) has no handler",
    }
)

# --- strings: torch has no string tensors
EXPECTED_FAILURES.update(
    {
        "test_ai_onnx_ml_label_encoder_string_int": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: LabelEncoder_0 (ai.onnx.ml::LabelEncoder, ops",
        "test_ai_onnx_ml_label_encoder_string_int_no_default": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: LabelEncoder_0 (ai.onnx.ml::LabelEncoder, ops",
        "test_ai_onnx_ml_label_encoder_tensor_mapping": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: LabelEncoder_0 (ai.onnx.ml::LabelEncoder, ops",
        "test_ai_onnx_ml_label_encoder_tensor_value_only_mapping": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: LabelEncoder_0 (ai.onnx.ml::LabelEncoder, ops",
        "test_equal_string": "strings: UnsupportedOperatorError: 2 node(s) cannot be imported to torch: Equal_0: input 'x' of type STRING (Equal, ops",
        "test_equal_string_broadcast": "strings: UnsupportedOperatorError: 2 node(s) cannot be imported to torch: Equal_0: input 'x' of type STRING (Equal, ops",
        "test_image_decoder_decode_bmp_rgb": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_image_decoder_decode_jpeg2k_rgb": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_image_decoder_decode_jpeg_bgr": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_image_decoder_decode_jpeg_grayscale": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_image_decoder_decode_jpeg_rgb": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_image_decoder_decode_png_rgb": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_image_decoder_decode_pnm_rgb": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_image_decoder_decode_tiff_rgb": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_image_decoder_decode_webp_rgb": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: ImageDecoder_0 (ImageDecoder, opset 20). Re-e",
        "test_regex_full_match_basic": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RegexFullMatch_0 (RegexFullMatch, opset 20). ",
        "test_regex_full_match_email_domain": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RegexFullMatch_0 (RegexFullMatch, opset 20). ",
        "test_regex_full_match_empty": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: RegexFullMatch_0 (RegexFullMatch, opset 20). ",
        "test_string_concat": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringConcat_0 (StringConcat, opset 20). Re-e",
        "test_string_concat_broadcasting": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringConcat_0 (StringConcat, opset 20). Re-e",
        "test_string_concat_empty_string": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringConcat_0 (StringConcat, opset 20). Re-e",
        "test_string_concat_utf8": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringConcat_0 (StringConcat, opset 20). Re-e",
        "test_string_concat_zero_dimensional": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringConcat_0 (StringConcat, opset 20). Re-e",
        "test_string_split_basic": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringSplit_0 (StringSplit, opset 20). Re-exp",
        "test_string_split_consecutive_delimiters": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringSplit_0 (StringSplit, opset 20). Re-exp",
        "test_string_split_empty_string_delimiter": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringSplit_0 (StringSplit, opset 20). Re-exp",
        "test_string_split_empty_tensor": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringSplit_0 (StringSplit, opset 20). Re-exp",
        "test_string_split_maxsplit": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringSplit_0 (StringSplit, opset 20). Re-exp",
        "test_string_split_no_delimiter": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringSplit_0 (StringSplit, opset 20). Re-exp",
        "test_strnorm_model_monday_casesensintive_lower": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnorm_model_monday_casesensintive_nochangecase": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnorm_model_monday_casesensintive_upper": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnorm_model_monday_empty_output": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnorm_model_monday_insensintive_upper_twodim": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnorm_model_nostopwords_nochangecase": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnormalizer_export_monday_casesensintive_lower": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnormalizer_export_monday_casesensintive_nochangecase": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnormalizer_export_monday_casesensintive_upper": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnormalizer_export_monday_empty_output": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnormalizer_export_monday_insensintive_upper_twodim": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_strnormalizer_nostopwords_nochangecase": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: StringNormalizer_0 (StringNormalizer, opset 1",
        "test_tfidfvectorizer_tf_batch_onlybigrams_skip0": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TfIdfVectorizer_0 (TfIdfVectorizer, opset 9).",
        "test_tfidfvectorizer_tf_batch_onlybigrams_skip5": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TfIdfVectorizer_0 (TfIdfVectorizer, opset 9).",
        "test_tfidfvectorizer_tf_batch_uniandbigrams_skip5": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TfIdfVectorizer_0 (TfIdfVectorizer, opset 9).",
        "test_tfidfvectorizer_tf_only_bigrams_skip0": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TfIdfVectorizer_0 (TfIdfVectorizer, opset 9).",
        "test_tfidfvectorizer_tf_onlybigrams_levelempty": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TfIdfVectorizer_0 (TfIdfVectorizer, opset 9).",
        "test_tfidfvectorizer_tf_onlybigrams_skip5": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TfIdfVectorizer_0 (TfIdfVectorizer, opset 9).",
        "test_tfidfvectorizer_tf_uniandbigrams_skip5": "strings: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: TfIdfVectorizer_0 (TfIdfVectorizer, opset 9).",
    }
)

# --- reduced precision: torch computes bfloat16/float16 differently from the reference (or numpy cannot hold bfloat16)
EXPECTED_FAILURES.update(
    {
        "test_attention_4d_causal_fp16": "reduced precision: data set 0, output 0: values differ: Mismatched elements: 2 / 192 (1.04%); Max absolute difference among viola",
        "test_attention_4d_causal_fp16_expanded": "reduced precision: data set 0, output 0: values differ: Mismatched elements: 2 / 192 (1.04%); Max absolute difference among viola",
        "test_attention_4d_causal_padded_kv_bf16": "reduced precision: TypeError: Got unsupported ScalarType BFloat16",
        "test_attention_4d_causal_padded_kv_bf16_expanded": "reduced precision: TypeError: Got unsupported ScalarType BFloat16",
        "test_attention_4d_padded_kv_bf16": "reduced precision: TypeError: Got unsupported ScalarType BFloat16",
        "test_attention_4d_padded_kv_bf16_expanded": "reduced precision: TypeError: Got unsupported ScalarType BFloat16",
        "test_flexattention_fp16": "reduced precision: UnsupportedOperatorError: 1 node(s) cannot be imported to torch: FlexAttention_0 (ai.onnx.preview::FlexAttenti",
        "test_range_bfloat16_type_positive_delta": "reduced precision: TypeError: Got unsupported ScalarType BFloat16",
        "test_unique_bfloat16_sorted_without_axis": "reduced precision: TypeError: Got unsupported ScalarType BFloat16",
    }
)

# --- semantics not matched yet
EXPECTED_FAILURES.update(
    {
        "test_cast_FLOAT16_to_FLOAT4E2M1": "semantics not matched yet: KeyError: 23",
        "test_cast_FLOAT4E2M1_to_FLOAT": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_cast_FLOAT4E2M1_to_FLOAT16": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_cast_FLOAT_to_FLOAT4E2M1": "semantics not matched yet: KeyError: 23",
        "test_cast_e8m0_FLOAT16_to_FLOAT8E8M0": "semantics not matched yet: KeyError: 24",
        "test_cast_e8m0_FLOAT8E8M0_to_FLOAT": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float8_e8m0fnu. The only supported types are: float64, f",
        "test_cast_e8m0_FLOAT8E8M0_to_FLOAT16": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float8_e8m0fnu. The only supported types are: float64, f",
        "test_cast_e8m0_FLOAT_to_FLOAT8E8M0": "semantics not matched yet: KeyError: 24",
        "test_castlike_FLOAT16_to_FLOAT4E2M1": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_castlike_FLOAT16_to_FLOAT4E2M1_expanded": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_castlike_FLOAT4E2M1_to_FLOAT": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_castlike_FLOAT4E2M1_to_FLOAT16": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_castlike_FLOAT4E2M1_to_FLOAT16_expanded": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_castlike_FLOAT4E2M1_to_FLOAT_expanded": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_castlike_FLOAT_to_FLOAT4E2M1": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_castlike_FLOAT_to_FLOAT4E2M1_expanded": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_dequantizelinear_float4e2m1": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_if_opt": "semantics not matched yet: data set 0, output 0: expected a sequence of 1 tensors",
        "test_l2normalization_axis_0": "semantics not matched yet: data set 0, output 0: values differ:",
        "test_loop16_seq_none": "semantics not matched yet: ImporterRunError: node 'SequenceInsert_7' (SequenceInsert, opset 16): TypeError: iteration over a 0-d tensor",
        "test_quantizelinear_float4e2m1": "semantics not matched yet: TypeError: can't convert np.ndarray of type ml_dtypes.float4_e2m1fn. The only supported types are: float64, fl",
        "test_range_bfloat16_type_positive_delta_expanded": "semantics not matched yet: data set 0, output 0: shape (2, 1), expected (2,)",
        "test_reduce_max_empty_set": "semantics not matched yet: IndexError: amax(): Expected reduction dim 1 to have non-zero size.",
        "test_reduce_max_empty_set_bool": "semantics not matched yet: IndexError: amax(): Expected reduction dim 1 to have non-zero size.",
        "test_reduce_min_empty_set": "semantics not matched yet: IndexError: amin(): Expected reduction dim 1 to have non-zero size.",
    }
)

# --- expected data carries float32 rounding noise: the case's atol (1e-7) is below it
EXPECTED_FAILURES.update(
    {
        "test_dft_inverse": "expected data carries float32 rounding noise: numpy's single-precision inverse FFT leaves 1.9e-7 where the exact value (and torch's) is 0; the case's atol is 1e-7",
        "test_dft_inverse_opset19": "expected data carries float32 rounding noise: numpy's single-precision inverse FFT leaves 1.9e-7 where the exact value (and torch's) is 0; the case's atol is 1e-7",
    }
)

# --- training-mode Dropout is random: not reproducible
EXPECTED_FAILURES.update(
    {
        "test_training_dropout": "training-mode Dropout is random: NeedsValues: training-mode dropout",
        "test_training_dropout_default": "training-mode Dropout is random: NeedsValues: training-mode dropout",
        "test_training_dropout_default_mask": "training-mode Dropout is random: NeedsValues: training-mode dropout",
        "test_training_dropout_mask": "training-mode Dropout is random: NeedsValues: training-mode dropout",
        "test_training_dropout_zero_ratio": "training-mode Dropout is random: NeedsValues: training-mode dropout",
        "test_training_dropout_zero_ratio_mask": "training-mode Dropout is random: NeedsValues: training-mode dropout",
    }
)


# --- the .pt2 leg (test_saved_pt2_reloaded_on_a_seeded_sample): cases of the seeded sample that the
# GraphModule passes but torch.export cannot save, because the importer reads a value while building
PT2_EXPECTED_FAILURES: dict[str, str] = {}
PT2_EXPECTED_FAILURES.update(
    {
        name: "torch.export: a value that decides a shape is known only at run time under export"
        for name in (
            "test_attention_3d_attn_mask_expanded",
            "test_attention_4d_attn_mask_expanded",
            "test_center_crop_pad_crop_axes_chw_expanded",
            "test_hannwindow",
            "test_rotary_embedding_3d_input",
            "test_slice",
        )
    }
)
PT2_EXPECTED_FAILURES.update(
    {
        "test_depthtospace_crd_mode_example_expanded": "torch.export: a Reshape size from a data-dependent value (u0)",
        "test_reduce_log_sum_exp_default_axes_keepdims_example_expanded": "torch.export: the axes input is read while building",
    }
)
