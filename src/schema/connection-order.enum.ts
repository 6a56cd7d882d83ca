import { registerEnumType } from 'type-graphql';

/** Orders a connections list (the console's sortable columns). */
export enum ConnectionOrder {
  DIRECTION = 'DIRECTION',
  CONFIDENCE = 'CONFIDENCE',
  STATE = 'STATE',
  LOCAL = 'LOCAL',
  REMOTE = 'REMOTE',
  NETNS = 'NETNS',
}

registerEnumType(ConnectionOrder, {
  name: 'ConnectionOrder',
  description: 'What a connections list is sorted by (ties keep the snapshot order).',
  valuesConfig: {
    DIRECTION: { description: 'INBOUND, OUTBOUND, UNKNOWN.' },
    CONFIDENCE: { description: 'The verdict confidence.' },
    STATE: { description: 'The TCP state name.' },
    LOCAL: { description: 'Local address, then port.' },
    REMOTE: { description: 'Remote address, then port.' },
    NETNS: { description: 'The network namespace id.' },
  },
});
