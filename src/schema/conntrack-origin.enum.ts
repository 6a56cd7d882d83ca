import { registerEnumType } from 'type-graphql';

/** How a conntrack entry began: closed sets are enums, so clients and the OpenAPI document see them. */
export enum ConntrackOrigin {
  SEEN_CREATED = 'SEEN_CREATED',
  SYN = 'SYN',
  MID_STREAM = 'MID_STREAM',
  UNKNOWN = 'UNKNOWN',
}

registerEnumType(ConntrackOrigin, {
  name: 'ConntrackOrigin',
  description: 'How a conntrack entry began.',
  valuesConfig: {
    SEEN_CREATED: { description: 'tcpdir saw its SYN: the opener is certain.' },
    SYN: { description: 'Its flags show a SYN made it: the opener is likely.' },
    MID_STREAM: { description: 'Adopted mid-stream (conntrack picked up a flow already running): the opener is unknown.' },
    UNKNOWN: { description: 'Neither is known.' },
  },
});

/** Which end of a conntrack entry a socket is. */
export enum ConntrackSide {
  ORIGINAL = 'ORIGINAL',
  REPLY = 'REPLY',
}

registerEnumType(ConntrackSide, {
  name: 'ConntrackSide',
  description: 'Which end of its conntrack entry a socket is.',
  valuesConfig: {
    ORIGINAL: { description: 'This end sent the first packet conntrack saw.' },
    REPLY: { description: 'This end answered.' },
  },
});
