export interface CiGeneratorSchema {
  /** Branch whose pushes build and deploy; default: nx.json defaultBase, else main. */
  branch?: string;
  skipFormat?: boolean;
}
