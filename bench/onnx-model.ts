// The bytes of one-node ONNX models, Y = MatMul(A, B) with A [m,k] and B [k,n] float32, and ONNX
// Runtime's MultiHeadAttention contrib op (com.microsoft), written by a minimal protobuf encoder so that
// the onnxruntime-web benchmarks need no model file and no protobuf dependency. Only the fields ONNX
// Runtime needs are written (field numbers from onnx.proto).

/** One protobuf field: a varint (wire type 0) or length-delimited bytes (wire type 2). */
type Field = [field: number, value: number | string | Uint8Array];

const utf8 = new TextEncoder();

function varint(value: number, out: number[]): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

/** Encodes a message from its fields in order (numbers must be non-negative integers). */
function message(fields: Field[]): Uint8Array {
  const out: number[] = [];
  for (const [field, value] of fields) {
    if (typeof value === 'number') {
      varint(field * 8, out);
      varint(value, out);
    } else {
      const bytes = typeof value === 'string' ? utf8.encode(value) : value;
      varint(field * 8 + 2, out);
      varint(bytes.length, out);
      for (const b of bytes) out.push(b);
    }
  }
  return Uint8Array.from(out);
}

const FLOAT = 1; // TensorProto.DataType.FLOAT

/** ValueInfoProto { name = 1, type = 2: TypeProto { tensor_type = 1: { elem_type = 1, shape = 2 } } } */
function floatTensorInfo(name: string, dims: readonly number[]): Uint8Array {
  const shape = message(dims.map((d): Field => [1, message([[1, d]])])); // TensorShapeProto.dim, dim_value
  const tensorType = message([
    [1, FLOAT],
    [2, shape],
  ]);
  return message([
    [1, name],
    [2, message([[1, tensorType]])],
  ]);
}

/** ModelProto bytes for Y[m,n] = A[m,k] x B[k,n] (float32), IR version 8, default-domain opset 17. */
export function matmulModel(m: number, k: number, n: number): Uint8Array {
  const node = message([
    [1, 'A'], // input
    [1, 'B'],
    [2, 'Y'], // output
    [3, 'matmul'], // name
    [4, 'MatMul'], // op_type
  ]);
  const graph = message([
    [1, node],
    [2, 'matmul_bench'],
    [11, floatTensorInfo('A', [m, k])],
    [11, floatTensorInfo('B', [k, n])],
    [12, floatTensorInfo('Y', [m, n])],
  ]);
  const opset = message([
    [1, ''], // domain: the default ONNX domain
    [2, 17],
  ]);
  return message([
    [1, 8], // ir_version
    [2, 'vision-grpo-bench'], // producer_name
    [7, graph],
    [8, opset],
  ]);
}

/** AttributeProto { name = 1, i = 3, type = 20 (INT = 2) } */
function intAttribute(name: string, value: number): Uint8Array {
  return message([
    [1, name],
    [3, value],
    [20, 2],
  ]);
}

/**
 * ModelProto bytes for Y = MultiHeadAttention(Q, K, V) (com.microsoft, opset 1) with `heads` heads of
 * `headDim` on [1, S, heads * headDim] float32 inputs (packed BSNH), causal when `causal`
 * (the op's unidirectional attribute). The op has one head count for queries, keys and values.
 */
export function attentionModel(seq: number, heads: number, headDim: number, causal: boolean): Uint8Array {
  const dims = [1, seq, heads * headDim];
  const node = message([
    [1, 'Q'],
    [1, 'K'],
    [1, 'V'],
    [2, 'Y'],
    [3, 'attention'],
    [4, 'MultiHeadAttention'],
    [5, intAttribute('num_heads', heads)],
    [5, intAttribute('unidirectional', causal ? 1 : 0)],
    [7, 'com.microsoft'],
  ]);
  const graph = message([
    [1, node],
    [2, 'attention_bench'],
    [11, floatTensorInfo('Q', dims)],
    [11, floatTensorInfo('K', dims)],
    [11, floatTensorInfo('V', dims)],
    [12, floatTensorInfo('Y', dims)],
  ]);
  return message([
    [1, 8],
    [2, 'vision-grpo-bench'],
    [7, graph],
    [
      8,
      message([
        [1, ''],
        [2, 17],
      ]),
    ],
    [
      8,
      message([
        [1, 'com.microsoft'],
        [2, 1],
      ]),
    ],
  ]);
}
