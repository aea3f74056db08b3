export { EmbeddedBroker, type BrokerOptions } from './broker.ts';
export { BrokerAcl, terminalTopics, SERVICE_USER_DEFAULT, type Principal } from './acl.ts';
export { BrokerListenError } from './errors.ts';
