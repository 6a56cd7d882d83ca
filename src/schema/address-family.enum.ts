import { registerEnumType } from 'type-graphql';

export enum AddressFamily {
  IPV4 = 'IPV4',
  IPV6 = 'IPV6',
}

registerEnumType(AddressFamily, {
  name: 'AddressFamily',
  description: 'The socket family. IPv4 clients of a dual-stack listener are IPV6 sockets with ::ffff: addresses.',
  valuesConfig: {
    IPV4: { description: 'AF_INET.' },
    IPV6: { description: 'AF_INET6, IPv4-mapped addresses included.' },
  },
});
