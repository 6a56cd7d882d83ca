export * from './tcp-state';
export * from './socket';
export * from './process';
export * from './host';
export * from './snapshot';
export * from './verdict';
export * from './address';
export * from './history';
