import { Field, ID, ObjectType } from 'type-graphql';

@ObjectType({ simpleResolvers: true, description: "The Kubernetes pod a namespace's container belongs to, from the container runtime's CRI socket (serve --cri-socket) or the kubelet's pod list (serve --kubelet-pods-url)." })
export class Pod {
  @Field({ description: 'Pod name (metadata.name).' })
  name!: string;

  @Field({ description: 'Kubernetes namespace of the pod (metadata.namespace).' })
  namespace!: string;

  @Field(() => ID, { description: 'Pod UID (metadata.uid).' })
  uid!: string;

  @Field({ description: "Name, in the pod's spec, of the container whose processes hold the network namespace." })
  containerName!: string;
}
