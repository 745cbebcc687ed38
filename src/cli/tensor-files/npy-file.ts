import { ClusterServingError } from '../../errors';
import { DTYPE_BYTES, elementCount, isDType, type Tensor } from '../../tensor/tensor';

/** numpy's type codes (kind + item size, without the byte order) of the dtypes we serve. */
const NPY_TYPES: Readonly<Record<string, string>> = {
  f2: 'float16',
  f4: 'float32',
  f8: 'float64',
  i4: 'int32',
  i8: 'int64',
  u1: 'uint8',
  b1: 'bool',
};

const MAGIC = '\x93NUMPY';

function bad(file: string, why: string): ClusterServingError {
  return new ClusterServingError('CS_ERR_BAD_REQUEST', `${file}: ${why}`);
}

/** The npy type codes of the served dtypes, for error messages. */
function servedCodes(): string {
  return Object.entries(NPY_TYPES)
    .filter(([, dtype]) => isDType(dtype))
    .map(([code, dtype]) => `${code} (${dtype})`)
    .join(', ');
}

/**
 * Reads a NumPy `.npy` file (format versions 1.0, 2.0 and 3.0, numpy's `lib/format.py`) into a tensor
 * without copying little-endian data; big-endian data is byte-swapped into a copy. Hand-written: the
 * format is a magic string, a length and a Python dict literal with three keys; the npm reader that
 * exists (npyjs) pulls an HTTP client, turns bool arrays into JS arrays and float16 into float32, and
 * ignores `fortran_order`.
 *
 * @param file - shown in errors.
 * @throws ClusterServingError CS_ERR_BAD_REQUEST naming the file and what is wrong (not an npy file, a
 *   structured or unserved dtype, Fortran order, a size that does not match the shape).
 * @example
 * const t = parseNpy(await readFile('x.npy'), 'x.npy'); // { dtype: 'float32', shape: [1, 16], data }
 */
export function parseNpy(bytes: Uint8Array, file: string): Tensor {
  if (bytes.byteLength < 10 || Buffer.from(bytes.buffer, bytes.byteOffset, 6).toString('latin1') !== MAGIC) throw bad(file, 'not a NumPy .npy file (no \\x93NUMPY magic)');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (major === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw bad(file, 'truncated .npy header');
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw bad(file, `.npy format version ${major}.${bytes[7]} is not supported (1.0, 2.0 and 3.0 are)`);
  }
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.byteLength) throw bad(file, 'truncated .npy header');
  const header = Buffer.from(bytes.buffer, bytes.byteOffset + headerStart, headerLength).toString(major === 3 ? 'utf8' : 'latin1');

  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  if (descr === undefined) throw bad(file, /'descr'\s*:\s*\[/.test(header) ? 'structured arrays (record dtypes) are not served; save one plain array per input' : 'the .npy header has no dtype (descr)');
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (fortran === undefined || shapeText === undefined) throw bad(file, 'the .npy header lacks fortran_order or shape');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim().replace(/L$/, ''))
    .filter((s) => s !== '')
    .map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(file, `the .npy shape (${shapeText}) is not a list of sizes`);

  const order = descr[0] === '<' || descr[0] === '>' || descr[0] === '|' || descr[0] === '=' ? descr[0] : '';
  const code = order ? descr.slice(1) : descr;
  const dtype = NPY_TYPES[code];
  if (dtype === undefined || !isDType(dtype)) throw bad(file, `the array's dtype '${descr}' is not served; served: ${servedCodes()} (convert with a.astype(...))`);
  if (fortran === 'True' && shape.filter((d) => d > 1).length > 1) throw bad(file, 'the array is in Fortran order; save np.ascontiguousarray(a) instead');

  const size = DTYPE_BYTES[dtype];
  const byteLength = elementCount(shape) * size;
  if (bytes.byteLength - dataStart < byteLength) throw bad(file, `${bytes.byteLength - dataStart} bytes of data, shape (${shape.join(', ')}) of ${dtype} needs ${byteLength}`);
  let data = bytes.subarray(dataStart, dataStart + byteLength);
  if (order === '>' && size > 1) {
    data = new Uint8Array(data);
    for (let i = 0; i < data.byteLength; i += size) data.subarray(i, i + size).reverse();
  }
  return { dtype, shape, data };
}
