import protobuf from 'protobufjs';

/*
 * The part of TensorFlow's Event protobuf that scalar summaries use, with TensorFlow's own field numbers
 * (tensorflow/core/util/event.proto and tensorflow/core/framework/summary.proto, which TensorBoard
 * vendors as tensorboard/compat/proto/). Encoded and decoded by protobufjs from this text, so no
 * generated code is kept here.
 */
const EVENT_PROTO = `
syntax = "proto3";
package tensorflow;
message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
  }
}
message Summary {
  message Value {
    string tag = 1;
    oneof value {
      float simple_value = 2;
    }
  }
  repeated Value value = 1;
}
`;

const root = protobuf.parse(EVENT_PROTO, { keepCase: false }).root;
const EventType = root.lookupType('tensorflow.Event');

/** The `file_version` of the first event of every file: TensorBoard reads the file in the current format. */
export const EVENT_FILE_VERSION = 'brain.Event:2';

/** One scalar: TensorBoard shows one chart per tag. */
export interface ScalarValue {
  readonly tag: string;
  /** Stored as float32, as TensorFlow's `simple_value` is. */
  readonly value: number;
}

/** An Event as this project writes it: the file's version record, or scalars at a step. */
export interface TfEvent {
  /** Seconds since the epoch (fractions allowed). */
  readonly wallTime: number;
  readonly step: number;
  readonly fileVersion?: string;
  readonly scalars?: readonly ScalarValue[];
}

/** The protobuf bytes of one Event. */
export function encodeEvent(event: TfEvent): Uint8Array {
  const message: Record<string, unknown> = { wallTime: event.wallTime, step: event.step };
  if (event.fileVersion !== undefined) message.fileVersion = event.fileVersion;
  else if (event.scalars !== undefined) message.summary = { value: event.scalars.map((s) => ({ tag: s.tag, simpleValue: s.value })) };
  return EventType.encode(EventType.fromObject(message)).finish();
}

/** Decodes one Event's bytes (what {@link encodeEvent} wrote; other fields are ignored). */
export function decodeEvent(bytes: Uint8Array): TfEvent {
  const object = EventType.toObject(EventType.decode(bytes), { longs: Number, defaults: true, oneofs: false }) as {
    wallTime: number;
    step: number;
    fileVersion?: string;
    summary?: { value?: { tag: string; simpleValue?: number }[] };
  };
  const base = { wallTime: object.wallTime, step: object.step };
  if (object.fileVersion !== undefined && object.fileVersion !== '') return { ...base, fileVersion: object.fileVersion };
  if (object.summary !== undefined) return { ...base, scalars: (object.summary.value ?? []).map((v) => ({ tag: v.tag, value: v.simpleValue ?? 0 })) };
  return base;
}
